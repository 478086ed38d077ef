"""Memory of the App server under a flood of big webhook posts with bad signatures.

    .venv/bin/python benchmarks/webhook_flood.py [--posts 40] [--mb 24] [--budget-mb 50]

Starts the App's web server in a child process (`make_app`, as `dropsafe serve` builds it),
posts `--posts` bodies of `--mb` MB at once, each with a wrong `X-Hub-Signature-256`, and
prints the server's resident memory before, at its peak (VmHWM) and after, with every
answer's status. `--budget-mb` sets the bytes of bodies the server reads at once
(`bot.webhooks.ReadBudget`, default 50 MB); a budget as big as the whole flood shows what
reading every body at once costs.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
SERVER = """
import logging
import sys
logging.basicConfig(level=logging.ERROR)  # not a "delivery refused" line per post
sys.path.insert(0, {tests!r})
from aiohttp import web
from fakegithub import AppCredentials
from bot.server import make_app
from bot.settings import Settings
from bot.webhooks import ReadBudget

credentials = AppCredentials.generate()
settings = Settings(
    app_id="1",
    private_key=credentials.private_key,
    webhook_secret="the real secret",
    api_url="http://127.0.0.1:9",
)
app = make_app(settings, read_budget=ReadBudget({budget}))
web.run_app(app, host="127.0.0.1", port={port}, print=None, access_log=None)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memory_mb(pid: int, field: str) -> float:
    """`VmRSS` (resident now) or `VmHWM` (resident at its peak) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")


async def wait_for(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(url + "/healthz"):
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    raise RuntimeError("the server did not start")


async def flood(url: str, posts: int, size: int) -> collections.Counter[int]:
    body = b" " * size
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": "flood",
        "X-Hub-Signature-256": "sha256=" + "0" * 64,
    }
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def post() -> int:
            async with session.post(url + "/api/github/webhooks", data=body, headers=headers) as r:
                return r.status

        return collections.Counter(await asyncio.gather(*(post() for _ in range(posts))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=40)
    parser.add_argument("--mb", type=int, default=24)
    parser.add_argument("--budget-mb", type=int, default=50)
    args = parser.parse_args()
    port = free_port()
    code = SERVER.format(tests=str(ROOT / "tests"), budget=args.budget_mb * 2**20, port=port)
    server = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(wait_for(url))
        before = memory_mb(server.pid, "VmRSS")
        started = time.perf_counter()
        statuses = asyncio.run(flood(url, args.posts, args.mb * 2**20))
        took = time.perf_counter() - started
        peak, after = memory_mb(server.pid, "VmHWM"), memory_mb(server.pid, "VmRSS")
    finally:
        os.kill(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    print(
        f"{args.posts} posts of {args.mb} MB with a bad signature, body budget {args.budget_mb} MB"
    )
    print(f"answers: {dict(statuses)} in {took:.1f} s")
    print(
        f"server resident memory: before {before:.0f} MB, peak {peak:.0f} MB, after {after:.0f} MB"
    )


if __name__ == "__main__":
    main()
