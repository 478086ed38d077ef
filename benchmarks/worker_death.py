"""How long a SIGKILLed `dropsafe worker`'s review takes to run again on another worker.

    .venv/bin/python benchmarks/worker_death.py [--rounds 3]

Starts a real redis-server, the fake GitHub (in a thread of its own), `dropsafe serve` and,
each round, a worker that takes one pull request's review; the fake holds the review's POST,
and while it is held a second worker starts and the first is killed (SIGKILL). Prints, per
round and as medians, the seconds from the kill until the second worker runs the job again
(its first request for that PR) and until the check run is completed, against the bound
`bot.redisqueue.Timings` gives (the workers run with the defaults, as deployed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
from load import OWNER, REPO, fake_in_thread, start, wait_healthy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakegithub import FakeGitHub, delivery_headers, load_webhook, pull_file
from redis_harness import free_port, running_redis

from bot.manifest import WEBHOOK_PATH
from bot.redisqueue import Timings

UNWRAP_IN_DROP = (
    "pub struct G(std::fs::File);\n"
    "impl Drop for G { fn drop(&mut self) { self.0.flush().unwrap(); } }\n"
)
"""A Drop whose finding is posted as a review comment (an Option's unwrap is only a notice)."""


async def until(done: Callable[[], bool], timeout: float = 120.0) -> float:
    """Poll `done` every 20 ms; the time it first held (time.monotonic)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit("timed out: see the logs")
        await asyncio.sleep(0.02)
    return time.monotonic()


async def started(log: Path) -> None:
    await until(lambda: log.exists() and "worker started" in log.read_text(errors="replace"))


async def deliver(url: str, fake: FakeGitHub, number: int) -> None:
    payload = load_webhook("pull_request.opened")
    payload["number"] = payload["pull_request"]["number"] = number
    body = json.dumps(payload).encode()
    headers = delivery_headers("pull_request", body, fake.credentials.webhook_secret)
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers):
        pass


async def one_round(
    fake: FakeGitHub, loop: asyncio.AbstractEventLoop, env: dict[str, str], logs: Path, pr: int
) -> tuple[float, float]:
    """Seconds from the kill until the job runs again, and until its check run completes."""
    pull_path = f"/repos/{OWNER}/{REPO}/pulls/{pr}"
    held = fake.hold("POST", f"{pull_path}/reviews")
    doomed = start(["worker"], env, logs / f"doomed{pr}.log")
    rescuer = None
    try:
        await started(logs / f"doomed{pr}.log")
        await deliver(f"http://127.0.0.1:{env['PORT']}{WEBHOOK_PATH}", fake, pr)
        await until(held.arrived.is_set)
        rescuer = start(["worker"], env, logs / f"rescuer{pr}.log")
        await started(logs / f"rescuer{pr}.log")
        reads = len(fake.calls("GET", pull_path))
        killed = time.monotonic()
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
        loop.call_soon_threadsafe(held.release)
        resumed = await until(lambda: len(fake.calls("GET", pull_path)) > reads)
        completed = await until(
            lambda: any(
                r.status == "completed" for r in fake.check_runs if r.head_sha == f"{pr:040x}"
            )
        )
    finally:  # a round that fails leaves no worker behind
        for worker in (doomed, rescuer):
            if worker is not None and worker.poll() is None:
                worker.terminate()
                worker.wait(30)
    return resumed - killed, completed - killed


async def main(args: argparse.Namespace) -> None:
    timings = Timings()
    with (
        tempfile.TemporaryDirectory() as work,
        running_redis(Path(work)) as redis_url,
        fake_in_thread(0.0) as (fake, loop),
    ):
        for pr in range(1, args.rounds + 1):
            files = [pull_file("src/lib.rs", "", UNWRAP_IN_DROP)]
            fake.add_pull_request(
                OWNER, REPO, pr, head_sha=f"{pr:040x}", base_sha="f" * 40, files=files
            )
        port = free_port()
        env = {**os.environ, **fake.app_env(), "REDIS_URL": redis_url, "PORT": str(port)}
        logs = Path(work)
        serve = start(["serve"], env, logs / "serve.log")
        try:
            await wait_healthy(f"http://127.0.0.1:{port}/healthz")
            figures = [
                await one_round(fake, loop, env, logs, pr) for pr in range(1, args.rounds + 1)
            ]
        finally:
            serve.terminate()
            serve.wait(30)
    bound = timings.stuck_after + timings.sweep + 2  # 2: the sweeper's wait for an abort
    for n, (resumed, completed) in enumerate(figures, 1):
        print(
            f"round {n}: running again after {resumed:.1f} s, check run completed {completed:.1f} s"
        )
    print(
        f"worker SIGKILLed mid-review, {args.rounds} rounds: job running again on another worker "
        f"after {statistics.median(f[0] for f in figures):.1f} s (median; max "
        f"{max(f[0] for f in figures):.1f} s), check run completed after "
        f"{statistics.median(f[1] for f in figures):.1f} s; expected at most ~{bound:.0f} s "
        f"(heartbeat {timings.heartbeat:g} s, stuck after {timings.stuck_after} s, "
        f"sweep every {timings.sweep} s); saq's defaults before took ~45 s"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
