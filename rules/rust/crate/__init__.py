"""The crate model: which functions of a crate run when a value is dropped.

The result is a `CrateModel`: the crates among the analysed files, where each
file sits in its crate's module tree (and whether that is test code), and for
each `impl Drop` the functions its `fn drop` reaches through calls the model is
certain of, with the chain of calls that leads there. It is built in phases,
each from plain data the previous one produced, so that syntax is read once:

1. **Item summary** (`items`): per file, from the tree the engine already
   parsed: functions (free, methods by `impl` type and trait, trait default
   methods), `mod` declarations (`#[path]`,
   `#[cfg(test)]`), inline modules, `use` declarations (renames, globs,
   `self`/`super`/`crate`), types with their field types, trait impls,
   `impl Drop` and `impl PinnedDrop` (also those written in a function's
   body). Picklable: a process-pool worker returns it.
2. **Crates** (`crates.read_packages`): packages and their targets from the
   `Cargo.toml` texts given (workspace members, several workspaces side by
   side); a file with no manifest is a crate of its own.
3. **Module tree** (`crates.build_crates`): from each target's root file along
   `mod x;` to the files they name, `cfg(test)` carried along; tests/,
   benches/, examples/ targets and dev-only support packages are test code.
4. **Scopes and resolution** (`resolve`): each module's declared and imported
   names, types known by their path; a call resolves to one function or to
   nothing (ambiguous and unknown both mean no edge; of cfg twins, the default
   build's is the one: `rules.rust.cfg`). A method call resolves
   from what its function says of the receiver (`self`, fields of fields, a
   typed local or parameter: `items.Receiver`, read with the calls).
5. **Reach** (`reach`): breadth first from every `fn drop`, bounded in depth,
   cycles cut, one search per rule excuse. A function's calls are read from
   its tree only when reach gets there (`gather_calls`), and the Drop rules
   look only at functions Drop reaches: the cost of following Drop grows with
   what Drop reaches, not with the size of the crate.

Each phase is linear in the size of what it reads (names are looked up in
dictionaries, `use` chains are followed a bounded number of steps).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from rules.rust.crate.crates import Crate, Placement, build_crates
from rules.rust.crate.items import Call, FileFunctions, FileItems, summary_functions
from rules.rust.crate.reach import Reached, Step, gather_calls, reach
from rules.rust.crate.resolve import FnRef, Resolver

PER_ROOT = 64  # functions one Drop's own search visits at most (`reached_from_each`)


class CrateModel:
    """The crates of a set of summarised files (`items`, with the manifests'
    texts by path) and the reach of their Drop impls.

    Calls are read on demand: `fetch(refs)` must return the calls of those
    functions (`FileFunctions.calls_of` in whatever process holds the file's
    tree); only functions Drop reaches are ever asked for. `tests` makes Drop
    impls in test code roots too."""

    def __init__(
        self,
        items: Sequence[FileItems],
        manifests: Mapping[str, str | bytes],
        fetch: Callable[[list[FnRef]], Mapping[FnRef, tuple[Call, ...]]],
        tests: bool = False,
    ) -> None:
        self.items = items
        self.tests = tests
        self.crates, self.placements = build_crates(list(items), manifests)
        self.resolver = Resolver(items, self.crates, self.placements)
        self._reached: dict[str | None, dict[FnRef, Reached]] = {}
        self._each: dict[str | None, dict[FnRef, list[Reached]]] = {}
        self.roots = [
            (index, root.function)
            for index, file in enumerate(items)
            for root in file.drops
            if tests or not (root.test or self.is_test_file(index))
        ]

        self._root_files = {file_index for file_index, _ in self.roots}

        def ask(refs: list[FnRef]) -> None:
            if refs:
                self.resolver.calls.update(fetch(refs))

        gather_calls(self.resolver, self.roots, ask)

    def is_test_file(self, index: int) -> bool:
        """Test code as a whole: a test/bench/example target, a dev-only
        package, or a module declared under `#[cfg(test)]`."""
        placement = self.placements[index]
        return placement.test or self.crates[placement.crate].test

    def reached(self, excuse: str | None = None) -> dict[FnRef, Reached]:
        """The functions Drop reaches when call sites `excuse` covers are not
        followed (`None`: all of them)."""
        if excuse not in self._reached:
            self._reached[excuse] = reach(self.resolver, self.roots, excuse)
        return self._reached[excuse]

    def roots_outside(self, file_index: int) -> bool:
        """Whether some `fn drop` of another file than `file_index` is a root:
        only what those reach is ever placed at their call as well (see
        `reached_from_each`), so a crate whose Drop impls all sit in the
        hazard's file needs no search per root."""
        files = self._root_files
        return len(files) > 1 or (bool(files) and file_index not in files)

    def reached_from_each(self, excuse: str | None = None) -> dict[FnRef, list[Reached]]:
        """For each function, how each Drop reaches it (`reached` keeps only
        the shortest way): a finding is also reported at the call in every
        `fn drop` that leads to it. Each root's search stops after
        `PER_ROOT` functions, so thousands of Drop impls stay linear."""
        if excuse not in self._each:
            found: dict[FnRef, list[Reached]] = {}
            for root in self.roots:
                for ref, how in reach(self.resolver, [root], excuse, PER_ROOT).items():
                    found.setdefault(ref, []).append(how)
            self._each[excuse] = found
        return self._each[excuse]


__all__ = [
    "Call",
    "Crate",
    "CrateModel",
    "FileFunctions",
    "FileItems",
    "FnRef",
    "Placement",
    "Reached",
    "Step",
    "summary_functions",
]
