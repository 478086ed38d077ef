"""A real Redis for the queue's tests, and `dropsafe worker` processes to drive against it.

`running_redis` starts the `redis-server` binary (Debian's `redis-server` package, which
scripts/test.sh installs) on a free port of 127.0.0.1, with the append-only file on as the
README tells operators, and stops it afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from app_harness import FAST_RETRY, NUMBER
from fakegithub import FakeGitHub, load_webhook

from bot.redisqueue import Timings
from bot.settings import Settings
from bot.worker import work


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_redis(
    directory: Path, port: int | None = None, stop: signal.Signals = signal.SIGTERM
) -> Iterator[str]:
    """`redis://127.0.0.1:PORT/0` of a server keeping its files (its append-only file among
    them) in `directory`, on a free port unless `port` is given; stopped with `stop` (SIGKILL:
    a crash)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: scripts/test.sh installs it (apt-get)")
    port = port or free_port()
    options = {"port": port, "bind": "127.0.0.1", "dir": directory, "appendonly": "yes"}
    arguments = [arg for name, value in options.items() for arg in (f"--{name}", str(value))]
    process = subprocess.Popen(
        [binary, *arguments, "--save", "", "--protected-mode", "no"], stdout=subprocess.DEVNULL
    )
    try:
        _wait_for(port, process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.send_signal(stop)
        process.wait(10)


async def fresh(url: str) -> str:
    """`url` after emptying that Redis (each test starts from nothing)."""
    client = aioredis.from_url(url)
    await client.flushall()
    await client.aclose()
    return url


def _wait_for(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2) as s:
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                return
        time.sleep(0.05)
    raise RuntimeError("redis-server did not answer PING")


async def queue_idle(url: str, timeout: float = 60.0) -> None:
    """Wait until the queue holds no job that is waiting, scheduled or running, no delivery
    waits for its event job to succeed, and no review request or run is open, twice in a row.
    saq's sweeper takes a job out of the queue for a few seconds when it re-queues one whose
    worker died: a review's run stays open meanwhile, and an event job's payload is kept."""
    client = aioredis.from_url(url)
    deadline = time.monotonic() + timeout
    try:
        quiet = 0
        while quiet < 2:
            if time.monotonic() > deadline:
                raise TimeoutError("the queue did not empty")
            await asyncio.sleep(0.1)
            async with client.pipeline(transaction=True) as pipe:
                pipe.zcard("saq:dropsafe:incomplete").llen("saq:dropsafe:active")
                busy = any(await pipe.execute())
            for pattern in ("dropsafe:want:*", "dropsafe:runs:*", "dropsafe:payload:*"):
                busy = busy or bool([key async for key in client.scan_iter(pattern)])
            quiet = 0 if busy else quiet + 1
    finally:
        await client.aclose()


FAST_TIMINGS = Timings(heartbeat=0.2, stuck_after=5, sweep=1, lock_ttl=2.0, review_timeout=60)
"""Short waits for the tests; a job is taken for dead after 5 s of silence, as deployed: on a
loaded test machine a shorter bound swept live jobs, which then ran twice."""


@contextlib.asynccontextmanager
async def running_workers(
    fake: FakeGitHub, url: str, count: int = 1, timings: Timings = FAST_TIMINGS, **options: Any
) -> AsyncIterator[list[asyncio.Task[None]]]:
    """`count` workers (`bot.worker.work`) in this process; stopped (cancelled) on exit."""
    settings = Settings.from_env({**fake.app_env(), "REDIS_URL": url})
    options = {"retry": FAST_RETRY, "grace_period": 0, **options}
    tasks = [asyncio.create_task(work(settings, timings, **options)) for _ in range(count)]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def push_deliveries(head: str, number: int = NUMBER) -> list[tuple[str, dict[str, Any]]]:
    """What GitHub sends for one push to PR `number`: `synchronize` and `check_suite.requested`
    (the real examples, moved to `head`; the suite names the PR as the rerequested one does)."""
    sync = load_webhook("pull_request.synchronize")
    sync["pull_request"]["number"] = sync["number"] = number
    sync["pull_request"]["head"]["sha"] = sync["after"] = head
    suite = load_webhook("check_suite.requested")
    suite["installation"]["id"] = sync["installation"]["id"]
    suite["check_suite"]["head_sha"] = head
    [pull] = load_webhook("check_suite.rerequested")["check_suite"]["pull_requests"]
    pull["number"], pull["head"]["sha"] = number, head
    suite["check_suite"]["pull_requests"] = [pull]
    return [("pull_request", sync), ("check_suite", suite)]


def start_worker_process(
    fake: FakeGitHub, url: str, log: Path, *, production_timings: bool = False
) -> subprocess.Popen[bytes]:
    """`tests/worker_process.py`: a worker in a process of its own, logging to `log`, with the
    tests' short timings or (`production_timings`) `Timings()`."""
    env = {**os.environ, **fake.app_env(), "REDIS_URL": url}
    script = Path(__file__).resolve().parent / "worker_process.py"
    flags = ["--production-timings"] if production_timings else []
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, str(script), *flags], env=env, stderr=out, stdout=out
        )
