"""The engine in worker processes that can be stopped: time budgets against hostile input.

Any PR author (a fork's included) chooses the Rust the engine reads, so an input that makes
some analysis slow must cost a skipped file, not a stuck review. A thread cannot be stopped,
so the engine runs in a pebble process pool: each file is one task with a time budget, after
which its worker process is killed and replaced, and the file is reported as skipped (the
check-run summary lists it with the reason, as it does for a file over the size limit). A
review has a total budget too: files it leaves no time for are skipped the same way, and the
crate-wide linking step, given what is left, falls back to the files' own findings. A review
cancelled meanwhile (a newer push) cancels its tasks, which kills the workers running them.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import multiprocessing
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from pebble import ProcessPool

from rules.config import Settings
from rules.engine import FilePart, FileReport, SourceFile, analyze_part, link

log = logging.getLogger(__name__)

FILE_BUDGET = 20.0
"""Seconds the engine may spend on one file."""
REVIEW_BUDGET = 120.0
"""Seconds the engine may spend on one review, all files and the crate-wide step."""
WORKERS = 2

T = TypeVar("T")
Analyze = Callable[[SourceFile, Settings], FilePart]


@dataclass
class EnginePool:
    """`analyze` is `rules.engine.analyze_files` with budgets; the pool starts on first use."""

    file_budget: float = FILE_BUDGET
    review_budget: float = REVIEW_BUDGET
    workers: int = WORKERS
    analyze_file: Analyze = analyze_part  # a module-level function: workers import it
    _pool: ProcessPool | None = field(default=None, repr=False)

    def pool(self) -> ProcessPool:
        if self._pool is None:
            # spawn, not fork: the App's process has threads and open sockets to leave behind
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPool(max_workers=self.workers, context=context)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.stop()
            self._pool.join()
            self._pool = None

    async def analyze(
        self,
        files: Sequence[SourceFile],
        settings: Settings,
        manifests: Mapping[str, str] | None = None,
    ) -> list[FileReport]:
        """The files' reports, as `analyze_files` gives them; a file whose analysis ran out
        of time is a report with `skipped` saying so."""
        deadline = time.monotonic() + self.review_budget
        ordered = await self._parts(files, settings, deadline)
        try:
            return await self._run(
                link, (ordered, settings, manifests), self.review_budget, deadline
            )
        except TimeoutError:
            log.warning("crate-wide analysis over the review's budget: files on their own")
            return [part.report for part in ordered]

    async def _parts(
        self, files: Sequence[SourceFile], settings: Settings, deadline: float
    ) -> list[FilePart]:
        async def one(file: SourceFile) -> FilePart:
            args = (file, settings)
            try:
                return await self._run(self.analyze_file, args, self.file_budget, deadline)
            except TimeoutError:
                if time.monotonic() >= deadline:
                    why = f"the review's time budget ({self.review_budget:g} s) ran out"
                else:
                    why = f"the analysis took longer than {self.file_budget:g} s, and was stopped"
            log.warning("file not analysed", extra={"path": file.path, "why": why})
            return FilePart(FileReport(file.path, (), skipped=why), file.touched)

        return list(await asyncio.gather(*(one(file) for file in files)))

    async def _run(
        self, function: Callable[..., T], args: tuple[object, ...], budget: float, deadline: float
    ) -> T:
        """`function(*args)` in a worker, which is killed once it has run `budget` seconds or
        at `deadline` however long it waited for a worker (`TimeoutError` both), or when the
        caller is cancelled."""
        future = self.pool().schedule(function, args=args, timeout=budget)
        try:
            async with asyncio.timeout_at(_loop_time(deadline)):
                return await asyncio.shield(asyncio.wrap_future(future))
        except BaseException:
            future.cancel()  # pebble stops the worker running it
            raise


def _loop_time(deadline: float) -> float:
    """`deadline` (time.monotonic) on the running loop's clock."""
    return asyncio.get_running_loop().time() + (deadline - time.monotonic())


_shared: EnginePool | None = None


def shared() -> EnginePool:
    """The process's pool (reviews share its workers); stopped when the process exits."""
    global _shared
    if _shared is None:
        _shared = EnginePool()
        atexit.register(_shared.close)
    return _shared
