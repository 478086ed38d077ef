"""The App under load on Redis: `dropsafe serve` and two `dropsafe worker`s, shuffled deliveries.

    .venv/bin/python benchmarks/load.py [--prs 50] [--deliveries 2000] [--workers 2]
                                        [--concurrency 20] [--latency 0.02]

Starts a real redis-server (append-only file on) on a free loopback port, the fake GitHub
(in a thread of its own, answering after `--latency` seconds), `dropsafe serve` and
`--workers` `dropsafe worker` processes against them. Every PR is pushed to
`deliveries / prs / 2` times, each push announced by both events GitHub sends
(`pull_request.synchronize`, `check_suite.requested`); the deliveries then arrive in a
shuffled order (GitHub does not order them), `--concurrency` at a time. Prints:

- acknowledgement latency p50/p99/max (target p99 < 100 ms),
- time from the first delivery until the queue is idle,
- per PR, that its newest head got exactly one completed check run with a verdict and one
  review, and that no check run is left in progress (targets: zero lost, doubled, stuck).

Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakegithub import FakeGitHub, delivery_headers, pull_file
from redis_harness import free_port, push_deliveries, queue_idle, running_redis

from bot.manifest import WEBHOOK_PATH

OWNER, REPO = "Codertocat", "Hello-World"  # the repository the example payloads name
BASE = "f" * 40


def head_of(pr: int, push: int) -> str:
    return f"{pr:020x}{push:020x}"


def source_of(pr: int, push: int) -> str:
    """A Drop that unwraps a flush, different at each push (so each head has its own finding,
    posted as a review comment: an Option's unwrap would only be a notice)."""
    name = f"G{pr}x{push}"
    drop = "fn drop(&mut self) { self.0.flush().unwrap(); }"
    return f"pub struct {name}(std::fs::File);\nimpl Drop for {name} {{ {drop} }}\n"


@contextmanager
def fake_in_thread(latency: float) -> Iterator[tuple[FakeGitHub, asyncio.AbstractEventLoop]]:
    """The fake GitHub on its own event loop and thread, so the load it serves the workers
    does not slow the loop that sends deliveries and times their answers; and that loop
    (`call_soon_threadsafe` to act on the fake from another thread)."""
    ready = threading.Event()
    stop: asyncio.Event | None = None
    holder: dict[str, Any] = {}

    async def serve() -> None:
        nonlocal stop
        stop = asyncio.Event()
        async with FakeGitHub(latency=latency) as fake:
            holder["fake"], holder["loop"] = fake, asyncio.get_running_loop()
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    ready.wait(30)
    try:
        yield holder["fake"], holder["loop"]
    finally:
        holder["loop"].call_soon_threadsafe(stop.set)  # type: ignore[union-attr]
        thread.join(30)


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", *command], env=env, stdout=out, stderr=out
        )


async def wait_healthy(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"the server did not answer {url}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def send_all(
    url: str, deliveries: list[tuple[str, bytes]], secret: str, concurrency: int
) -> tuple[list[float], Counter[int]]:
    """POST every delivery, `concurrency` at a time; seconds per answer, answers by status."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for delivery in deliveries:
        queue.put_nowait(delivery)

    async def sender(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            event, body = queue.get_nowait()
            headers = delivery_headers(event, body, secret)
            begin = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
            latencies.append(time.perf_counter() - begin)
            statuses[response.status] += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(sender(session) for _ in range(concurrency)))
    return latencies, statuses


def verdicts(fake: FakeGitHub, prs: int, pushes: int) -> dict[str, int]:
    """Counts of PRs whose newest head was lost (no verdict), doubled, or left stuck."""
    newest = {head_of(pr, pushes - 1): pr for pr in range(1, prs + 1)}
    runs: Counter[str] = Counter()
    cancelled = stuck = 0
    for run in fake.check_runs:
        if run.status != "completed":
            stuck += 1
        elif run.conclusion == "cancelled":
            cancelled += 1
        else:
            runs[run.head_sha] += 1
    reviews = Counter(review.commit_id for review in fake.reviews)
    return {
        "check runs": len(fake.check_runs),
        "cancelled": cancelled,
        "stuck (in progress)": stuck,
        "lost (no verdict on the newest head)": sum(runs[h] == 0 for h in newest),
        "doubled (2+ verdicts on the newest head)": sum(runs[h] > 1 for h in newest),
        "newest heads without exactly one review": sum(reviews[h] != 1 for h in newest),
        "reviews of older heads": sum(n for h, n in reviews.items() if h not in newest),
    }


async def main(args: argparse.Namespace) -> int:
    pushes = max(1, args.deliveries // args.prs // 2)
    with (
        tempfile.TemporaryDirectory() as work,
        running_redis(Path(work)) as redis_url,
        fake_in_thread(args.latency) as (fake, _),
    ):
        for pr in range(1, args.prs + 1):
            last = pushes - 1
            files = [pull_file(f"src/g{pr}.rs", None, source_of(pr, last))]
            fake.add_pull_request(
                OWNER, REPO, pr, head_sha=head_of(pr, last), base_sha=BASE, files=files
            )
        deliveries = [
            (event, json.dumps(payload).encode())
            for pr in range(1, args.prs + 1)
            for push in range(pushes)
            for event, payload in push_deliveries(head_of(pr, push), pr)
        ]
        random.Random(args.seed).shuffle(deliveries)

        port = free_port()
        env = {**os.environ, **fake.app_env(), "REDIS_URL": redis_url, "PORT": str(port)}
        logs = Path(args.logs or work)
        logs.mkdir(parents=True, exist_ok=True)
        processes = [start(["serve"], env, logs / "serve.log")]
        processes += [start(["worker"], env, logs / f"worker{n}.log") for n in range(args.workers)]
        try:
            await wait_healthy(f"http://127.0.0.1:{port}/healthz")
            begin = time.perf_counter()
            latencies, statuses = await send_all(
                f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
                deliveries,
                fake.credentials.webhook_secret,
                args.concurrency,
            )
            sent = time.perf_counter() - begin
            await queue_idle(redis_url, timeout=args.timeout)
            idle = time.perf_counter() - begin
            cpu = [cpu_seconds(process.pid) for process in processes]
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(30)
        ms = [s * 1000 for s in latencies]
        p99 = percentile(ms, 99)
        print(
            f"{len(deliveries)} deliveries for {args.prs} PRs ({pushes} pushes each, both events, "
            f"shuffled), {args.workers} workers, {args.concurrency} senders, "
            f"GitHub latency {args.latency * 1000:.0f} ms"
        )
        print(f"answers: {dict(sorted(statuses.items()))}, all sent in {sent:.1f} s")
        load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
        print(f"machine: {os.cpu_count()} cores, load average {load} (figures need an idle one)")
        print(
            f"ack latency: p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, "
            f"max {max(ms):.1f} ms (target p99 < 100 ms)"
        )
        print(f"time until idle: {idle:.1f} s")
        print(
            f"CPU: serve {cpu[0] / len(deliveries) * 1000:.1f} ms per delivery; workers "
            + ", ".join(f"{seconds:.1f} s" for seconds in cpu[1:])
        )
        counts = verdicts(fake, args.prs, pushes)
        for name, count in counts.items():
            print(f"  {name}: {count}")
        missed = [
            name
            for name, count in counts.items()
            if count and name.startswith(("stuck", "lost", "doubled", "newest"))
        ]
        if p99 >= 100:
            missed.append("ack p99")
        if set(statuses) - {200, 202}:
            missed.append("answers other than 200/202")
        print("targets met" if not missed else f"targets MISSED: {', '.join(missed)}")
        if missed and args.logs is None:
            print("(rerun with --logs DIR to keep the server's and workers' logs)")
        return 1 if missed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prs", type=int, default=50)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--logs", help="keep the server's and workers' logs in this folder")
    sys.exit(asyncio.run(main(parser.parse_args())))
