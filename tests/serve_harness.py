"""`dropsafe serve` as a real process, for the tests of what happens at start and first run."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

APP_SETTINGS = ("APP_ID", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "WEBHOOK_SECRET", "REDIS_URL")


@dataclass
class Served:
    url: str
    process: asyncio.subprocess.Process
    first_line: str  # what `dropsafe serve` printed on start


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve_env(settings: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any App settings, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if k not in APP_SETTINGS}
    return {**env, "PYTHONUNBUFFERED": "1", **settings}


async def start_serve(
    settings: Mapping[str, str], cwd: Path, port: int, *, output: str
) -> asyncio.subprocess.Process:
    """`dropsafe serve --port PORT` in `cwd` with only `settings` for the App; `output` is
    the stream kept for the test ("stdout" or "stderr"), the other is discarded."""
    pipe, devnull = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        "--port",
        str(port),
        env=serve_env(settings),
        cwd=cwd,
        stdout=pipe if output == "stdout" else devnull,
        stderr=pipe if output == "stderr" else devnull,
    )


async def run_serve(settings: Mapping[str, str], cwd: Path) -> tuple[int, str]:
    """`dropsafe serve` expected to stop at start: its exit status and stderr."""
    process = await start_serve(settings, cwd, free_port(), output="stderr")
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, stderr.decode()


@asynccontextmanager
async def serving(settings: Mapping[str, str], cwd: Path) -> AsyncIterator[Served]:
    """`dropsafe serve` on a free port, up (its /healthz answers) until the block ends."""
    port = free_port()
    process = await start_serve(settings, cwd, port, output="stdout")
    assert process.stdout is not None
    try:
        first_line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode().strip()
        url = f"http://127.0.0.1:{port}"
        await _until_up(url, process)
        yield Served(url, process, first_line)
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


async def _until_up(url: str, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            assert process.returncode is None, "dropsafe serve exited"
            try:
                async with session.get(url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("dropsafe serve did not answer /healthz within 30 s")
