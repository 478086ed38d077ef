"""The App against a fake GitHub with real latency: a 100-file review, and acks under load.

    .venv/bin/python benchmarks/app.py [--files 100] [--latency 0.03] [--deliveries 200]

Reviews a pull request of real Rust files (tokio's sources from Debian's crate
registry; half added, half modified) through the App server, with the fake GitHub
answering every call after `--latency` seconds, and prints:

- time from delivery to review done (target < 3 s for 100 files),
- GitHub calls the review made (target <= files + 10), by operation,
- acknowledgement latency p50/p99 of `--deliveries` concurrent deliveries while reviews
  run (target p99 < 100 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from app_harness import NUMBER, OWNER, REPO
from fakegithub import FakeGitHub, PullFile, delivery_headers, load_webhook, pull_file

from bot.server import JOBS, WEBHOOK_PATH, make_app
from bot.settings import Settings

CORPUS = sorted(Path("/usr/share/cargo/registry").glob("tokio-1.*/src"))
MAX_BYTES = 200_000
Deliver = Callable[[], Awaitable[float]]


def corpus_files(count: int) -> list[PullFile]:
    """`count` real Rust files as PR changes: even ones added, odd ones with every 7th line new."""
    if not CORPUS:
        sys.exit("no tokio sources under /usr/share/cargo/registry (apt install librust-tokio-dev)")
    paths = [p for p in sorted(CORPUS[-1].rglob("*.rs")) if p.stat().st_size <= MAX_BYTES][:count]
    files = []
    for index, path in enumerate(paths):
        new = path.read_text(encoding="utf-8", errors="replace")
        name = f"tokio/{path.relative_to(CORPUS[-1])}"
        if index % 2 == 0:
            files.append(pull_file(name, None, new))
        else:
            old = "".join(line for n, line in enumerate(new.splitlines(True)) if n % 7 != 3)
            files.append(pull_file(name, old, new))
    return files


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def post(session: aiohttp.ClientSession, url: str, payload: bytes, secret: str) -> float:
    """One signed delivery; seconds until its answer."""
    headers = delivery_headers("pull_request", payload, secret)
    start = time.perf_counter()
    async with session.post(url, data=payload, headers=headers) as response:
        await response.read()
        assert response.status < 300, response.status
    return time.perf_counter() - start


async def review_once(fake: FakeGitHub, app: web.Application, deliver: Deliver) -> None:
    """One delivery of a PR's opening; prints time to review, calls made and their kinds."""
    start = time.perf_counter()
    await deliver()
    await app[JOBS].idle()
    seconds = time.perf_counter() - start
    calls = Counter(r.operation_id for r in fake.requests)
    files = len(fake.pull(OWNER, REPO, NUMBER).files)
    size = sum(len(f.content or b"") for f in fake.pull(OWNER, REPO, NUMBER).files) / 1e6
    print(f"PR: {files} files, {size:.2f} MB, {fake.latency * 1000:.0f} ms per GitHub call")
    print(f"delivery -> review done: {seconds:.2f} s (target < 3 s)")
    comments = sum(len(review.comments) for review in fake.reviews)
    print(
        f"GitHub calls: {sum(calls.values())} (target <= {files + 10}); annotations "
        f"{len(fake.check_runs[0].annotations)}, inline comments {comments}"
    )
    for operation, count in calls.most_common():
        print(f"  {count:4d}  {operation}")


async def ack_burst(fake: FakeGitHub, app: web.Application, deliver: Deliver, count: int) -> None:
    """`count` deliveries at once (their reviews run meanwhile); prints ack latency."""
    runs_before = len(fake.check_runs)
    cpu = time.process_time()
    ms = [s * 1000 for s in await asyncio.gather(*(deliver() for _ in range(count)))]
    cpu = time.process_time() - cpu
    await app[JOBS].idle()
    print(
        f"acks of {count} concurrent deliveries: p50 {statistics.median(ms):.1f} ms, "
        f"p99 {percentile(ms, 99):.1f} ms, max {max(ms):.1f} ms (target p99 < 100 ms); "
        f"reviews run meanwhile: {len(fake.check_runs) - runs_before}"
    )
    # The burst is one loop's CPU (client, server and fake alike), so p99 follows it; unlike
    # the latencies, it hardly depends on what else the machine runs.
    print(f"CPU of this process until the last ack: {cpu * 1000:.0f} ms")


async def main(args: argparse.Namespace) -> None:
    async with FakeGitHub(latency=args.latency) as fake:
        payload = load_webhook("pull_request.opened")
        fake.add_pull_request_from_payload(payload, files=corpus_files(args.files))
        app = make_app(Settings.from_env(fake.app_env()))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        url = f"http://{host}:{port}{WEBHOOK_PATH}"
        body = json.dumps(payload).encode()
        try:
            async with aiohttp.ClientSession() as session:

                def deliver() -> Awaitable[float]:
                    return post(session, url, body, fake.credentials.webhook_secret)

                await review_once(fake, app, deliver)
                await ack_burst(fake, app, deliver, args.deliveries)
        finally:
            await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--deliveries", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
