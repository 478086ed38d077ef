"""Worker processes that keep the files they analysed parsed until the scan is linked.

A scan reads and analyses its files in parallel, then links them into crates
(`rules.engine.link`); linking asks again about the few functions `fn drop`
reaches (their calls, what the Drop rules find in them). Each file stays with
the worker that parsed it, so those questions go to that worker and no file is
parsed twice. Only plain data crosses the pipes: targets and questions one
way, `FilePart`s and answers the other.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, TypeVar

from bot.sources import read_source
from rules.config import Settings
from rules.engine import Analysis, FilePart, FileReport, Hazard, SourceFile
from rules.rust.crate import Call

T = TypeVar("T")
# Analysing a file makes tens of thousands of short-lived objects (tree-sitter
# nodes, item summaries): with CPython 3.11's default first threshold (700
# allocations) the cycle collector ran thousands of times per check, about a
# tenth of its time. 10,000 keeps collections, and so memory, bounded.
GC_THRESHOLD = 10_000


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect cycles less often while analysing (see `GC_THRESHOLD`); the
    process's own thresholds come back after."""
    previous = gc.get_threshold()
    gc.set_threshold(max(GC_THRESHOLD, previous[0]), *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


class Holder:
    """Files analysed in this process (`rules.engine.Analysis`), read from disk."""

    def __init__(self, settings: Settings) -> None:
        self.analysis = Analysis(settings)

    def add(self, targets: Sequence[Any]) -> list[FilePart]:
        """Read and analyse `targets` (`bot.scan.Target`s)."""
        return [self._add(target) for target in targets]

    def _add(self, target: Any) -> FilePart:
        source, skipped = read_source(target.path, target.location)
        if skipped:
            return FilePart(FileReport(target.path, (), skipped=skipped), target.touched)
        return self.analysis.add(SourceFile(target.path, source, target.touched))

    def calls(self, wanted: Mapping[str, list[int]]) -> dict[str, dict[int, tuple[Call, ...]]]:
        return self.analysis.calls(wanted)

    def hazards(self, wanted: Mapping[str, list[int]]) -> dict[str, list[Hazard]]:
        return self.analysis.hazards(wanted)

    def lines(self, wanted: Mapping[str, Collection[int]]) -> dict[str, dict[int, str]]:
        return self.analysis.lines(wanted)

    def named(self, paths: Collection[str], names: Collection[str]) -> set[str]:
        return self.analysis.named(paths, names)

    def __enter__(self) -> Holder:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        return None


class Pool(Holder):
    """`count` workers, each a `Holder` of the files dealt to it: this process
    is the first (its parts cross no pipe), worker processes the others."""

    def __init__(
        self, settings: Settings, count: int, deal: Callable[[Sequence[Any], int], list[list[Any]]]
    ) -> None:
        super().__init__(settings)
        self._deal = deal
        self._count = count
        self._owner: dict[str, int] = {}
        self._pipes: list[Connection] = []  # worker n > 0 at index n - 1
        self._workers: list[multiprocessing.process.BaseProcess] = []
        for _ in range(count - 1):
            mine, theirs = multiprocessing.Pipe()
            worker = multiprocessing.Process(target=_serve, args=(theirs, settings), daemon=True)
            worker.start()
            theirs.close()
            self._pipes.append(mine)
            self._workers.append(worker)

    def add(self, targets: Sequence[Any]) -> list[FilePart]:
        chunks = self._deal(targets, self._count)
        for worker, chunk in enumerate(chunks):
            self._owner.update((target.path, worker) for target in chunk)
        answers = self._ask({worker: ("add", chunk) for worker, chunk in enumerate(chunks)})
        return [part for worker in sorted(answers) for part in answers[worker]]

    def calls(self, wanted: Mapping[str, list[int]]) -> dict[str, dict[int, tuple[Call, ...]]]:
        return self._per_file("calls", wanted)

    def hazards(self, wanted: Mapping[str, list[int]]) -> dict[str, list[Hazard]]:
        return self._per_file("hazards", wanted)

    def lines(self, wanted: Mapping[str, Collection[int]]) -> dict[str, dict[int, str]]:
        return self._per_file("lines", wanted)

    def named(self, paths: Collection[str], names: Collection[str]) -> set[str]:
        split: dict[int, list[str]] = {}
        for path in paths:
            split.setdefault(self._owner[path], []).append(path)
        asked = {worker: ("named", (mine, names)) for worker, mine in split.items()}
        return set[str]().union(*self._ask(asked).values())

    def _per_file(self, command: str, wanted: Mapping[str, T]) -> dict[str, Any]:
        """Ask each worker about its own files, and merge the answers."""
        split: dict[int, dict[str, T]] = {}
        for path, question in wanted.items():
            split.setdefault(self._owner[path], {})[path] = question
        merged: dict[str, Any] = {}
        for answer in self._ask(
            {worker: (command, part) for worker, part in split.items()}
        ).values():
            merged.update(answer)
        return merged

    def _ask(self, messages: Mapping[int, tuple[str, Any]]) -> dict[int, Any]:
        """Send the worker processes their questions, answer this process's
        own meanwhile, then collect theirs."""
        for worker, message in messages.items():
            if worker:
                self._pipes[worker - 1].send(message)
        answers = {}
        if 0 in messages:
            command, payload = messages[0]
            answers[0] = _handlers(super())[command](payload)
        for worker in messages:
            if worker:
                ok, value = self._pipes[worker - 1].recv()
                if not ok:
                    raise value
                answers[worker] = value
        return answers

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for pipe in self._pipes:
            with contextlib.suppress(OSError):  # a worker that died has closed its end
                pipe.send(("stop", None))
        for worker in self._workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()


def _serve(pipe: Connection, settings: Settings) -> None:
    """A worker process: it only ever analyses (see `fewer_collections`)."""
    with fewer_collections():
        _answer(pipe, Holder(settings))


def _handlers(holder: Any) -> dict[str, Callable[[Any], object]]:
    """What a worker does for each command (`holder` a `Holder`, or a `Pool`'s
    own part of the work seen as one)."""
    return {
        "add": holder.add,
        "calls": holder.calls,
        "hazards": holder.hazards,
        "lines": holder.lines,
        "named": lambda payload: holder.named(*payload),
    }


def _answer(pipe: Connection, holder: Holder) -> None:
    """A worker's loop: answer the parent's questions about its files."""
    handlers = _handlers(holder)
    while True:
        command, payload = pipe.recv()
        if command == "stop":
            return
        try:
            pipe.send((True, handlers[command](payload)))
        except Exception as error:  # the parent re-raises it
            pipe.send((False, error))
