"""Phases 2 and 3: crates from `Cargo.toml`, and each crate's module tree.

A package's `Cargo.toml` gives its targets the way cargo finds them: the
library (`[lib] path` or `src/lib.rs`), binaries (`src/main.rs`,
`src/bin/*.rs`, `src/bin/*/main.rs`, `[[bin]] path`) and the test, bench and
example targets (`tests/`, `benches/`, `examples/`, `[[test]]` ...), which are
test code as a whole. Workspaces need nothing special: every member has a
manifest of its own, and several workspaces side by side are just more
manifests. A package that other packages of the tree list only under
`[dev-dependencies]` (by `path` or from the workspace) is test support: its
code is test code too.

From each target's root file the module tree follows `mod x;` declarations
(`x.rs` or `x/mod.rs` beside a `mod.rs`/root file, under `foo/` for `foo.rs`,
or `#[path]`), carrying `#[cfg(test)]` into the files it names. A file no
target reaches (or one given with no manifest at all) is a crate of its own.
"""

from __future__ import annotations

import posixpath
import tomllib
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from rules.rust.cfg import default_features
from rules.rust.context import is_test_path
from rules.rust.crate.items import FileItems, ModDecl, Module

_TARGET_DIRS = {"tests": "test", "benches": "bench", "examples": "example"}
_TARGET_TABLES = {"bin": "bin", "test": "test", "bench": "bench", "example": "example"}


@dataclass(frozen=True, slots=True)
class Package:
    """One `[package]`: where it lives, its library's crate name, which
    packages it depends on (crate names as it spells them -> package name)
    and the features its default build turns on."""

    directory: str
    name: str
    lib: str | None
    targets: tuple[tuple[str, str], ...]  # (root file, kind): lib, bin, test, bench, example
    dependencies: Mapping[str, str] = field(default_factory=dict)
    dev_dependencies: frozenset[str] = frozenset()
    features: frozenset[str] = frozenset()
    benchmarks: bool = False  # an unpublished package of benchmarks (isahc's `benchmarks/`)


@dataclass(slots=True)
class Crate:
    """One compiled crate: its root file, the package it belongs to (None for
    a lone file) and whether it is test code as a whole."""

    root: str
    package: Package | None
    test: bool


@dataclass(slots=True)
class Placement:
    """Where a file sits: its crate (index), module path, and cfg(test)."""

    crate: int
    module: Module
    test: bool


def read_packages(manifests: Mapping[str, str | bytes], files: Collection[str]) -> list[Package]:
    """The packages of the given `Cargo.toml` texts (path -> text); an
    unreadable manifest or one without `[package]` (a virtual workspace) is
    skipped. Targets are kept only when their root file is among `files`."""
    packages = []
    by_dir = _by_directory(files)
    for path, text in sorted(manifests.items()):
        try:
            data = tomllib.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            continue
        package = data.get("package")
        if not isinstance(package, dict) or not isinstance(package.get("name"), str):
            continue
        directory = posixpath.dirname(path)
        targets = list(_targets(data, directory, files, by_dir))
        lib = next((root for root, kind in targets if kind == "lib"), None)
        packages.append(
            Package(
                directory=directory,
                name=package["name"],
                lib=lib,
                targets=tuple(targets),
                dependencies=_dependencies(data, ("dependencies", "build-dependencies")),
                dev_dependencies=frozenset(
                    _dependencies(data, ("dev-dependencies",), local_only=True).values()
                ),
                features=default_features(data.get("features")),
                benchmarks=_benchmarks(package, directory),
            )
        )
    return packages


def _targets(
    data: dict[str, Any], directory: str, files: Collection[str], by_dir: Mapping[str, list[str]]
) -> Iterator[tuple[str, str]]:
    def at(*parts: str) -> str:
        return posixpath.normpath(posixpath.join(directory, *parts))

    lib = data.get("lib")
    lib_path = lib.get("path") if isinstance(lib, dict) else None
    candidates = [(at(lib_path) if isinstance(lib_path, str) else at("src", "lib.rs"), "lib")]
    candidates.append((at("src", "main.rs"), "bin"))
    for table, kind in _TARGET_TABLES.items():
        entries = data.get(table)
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                candidates.append((at(entry["path"]), kind))
    # auto-discovered: every `*.rs` of the folder, and `*/main.rs` one level down
    for folder, kind in (("src/bin", "bin"), *_TARGET_DIRS.items()):
        base = at(folder)
        candidates.extend((file, kind) for file in by_dir.get(base, ()))
        for sub in by_dir.get(f"{base}/*", ()):
            candidates.append((sub, kind))
    seen = set()
    for root, kind in candidates:
        if root in files and root not in seen:
            seen.add(root)
            yield root, kind


def _by_directory(files: Collection[str]) -> dict[str, list[str]]:
    """Files by their folder, and `folder/*` -> the `folder/x/main.rs` files."""
    found: dict[str, list[str]] = {}
    for file in sorted(files):
        folder, name = posixpath.split(file)
        found.setdefault(folder, []).append(file)
        if name == "main.rs":
            found.setdefault(posixpath.dirname(folder) + "/*", []).append(file)
    return found


def _dependencies(
    data: dict[str, Any], tables: tuple[str, ...], local_only: bool = False
) -> dict[str, str]:
    """Crate name as code spells it -> package name, over the given tables and
    their `[target.'cfg(..)'.*]` variants. `local_only` keeps the ones given by
    `path` or inherited from the workspace: a support package of the same
    source tree, not a published crate (tempfile or tower as a dev-dependency
    of hyper is a library of its own when both are scanned side by side)."""
    found: dict[str, str] = {}
    sections = [data, *(t for t in data.get("target", {}).values() if isinstance(t, dict))]
    for section in sections:
        for table in tables:
            entries = section.get(table)
            if not isinstance(entries, dict):
                continue
            for key, spec in entries.items():
                local = isinstance(spec, dict) and ("path" in spec or "workspace" in spec)
                if local_only and not local:
                    continue
                package = spec.get("package", key) if isinstance(spec, dict) else key
                found[key.replace("-", "_")] = str(package)
    return found


def build_crates(
    items: list[FileItems], manifests: Mapping[str, str | bytes]
) -> tuple[list[Crate], list[Placement]]:
    """Every crate among `items` and where each file sits (one placement per
    file, in the order of `items`)."""
    by_path = {file.path: n for n, file in enumerate(items)}
    packages = read_packages(manifests, by_path)
    dev_only = _dev_only(packages)
    crates: list[Crate] = []
    placements: list[Placement | None] = [None] * len(items)
    for package in packages:
        for root, kind in package.targets:
            if placements[by_path[root]] is not None:
                continue
            test = kind in {"test", "bench", "example"} or package.name in dev_only
            test = test or package.benchmarks
            crates.append(Crate(root, package, test))
            _place_modules(items, by_path, placements, len(crates) - 1, by_path[root], test)
    for index, file in enumerate(items):
        if placements[index] is None:
            crates.append(Crate(file.path, None, is_test_path(file.path)))
            _place_modules(items, by_path, placements, len(crates) - 1, index, crates[-1].test)
    return crates, [placement for placement in placements if placement is not None]


def _benchmarks(package: dict[str, Any], directory: str) -> bool:
    """`publish = false` and named for benchmarks (`isahc-benchmarks`, a `benches/`
    folder): a workspace member that measures the crate, which is test code."""
    named = f"{package['name']} {posixpath.basename(directory)}".lower()
    return package.get("publish") is False and "bench" in named


def _dev_only(packages: list[Package]) -> frozenset[str]:
    """Packages that others depend on only as dev-dependencies."""
    normal = {name for p in packages for name in p.dependencies.values()}
    dev = {name for p in packages for name in p.dev_dependencies}
    return frozenset(dev - normal)


def _place_modules(
    items: list[FileItems],
    by_path: Mapping[str, int],
    placements: list[Placement | None],
    crate: int,
    root: int,
    test: bool,
) -> None:
    """Follow `mod x;` from `root` through the files, claiming each file once."""
    placements[root] = Placement(crate, (), test)
    pending = [(root, True)]
    while pending:
        index, owns_directory = pending.pop()
        file, placement = items[index], placements[index]
        assert placement is not None
        base = posixpath.dirname(file.path)
        if not owns_directory:
            base = posixpath.join(base, posixpath.basename(file.path).removesuffix(".rs"))
        for decl in file.mods:
            for candidate, owns in _module_files(base, posixpath.dirname(file.path), decl):
                child = by_path.get(candidate)
                if child is None:
                    continue
                if placements[child] is None:
                    module = (*placement.module, *decl.module, decl.name)
                    placements[child] = Placement(crate, module, placement.test or decl.test)
                    pending.append((child, owns))
                break


def _module_files(base: str, directory: str, decl: ModDecl) -> Iterator[tuple[str, bool]]:
    """Candidate files for `mod name;` and whether each is a `mod.rs`-like
    file (its children live in its own directory)."""
    if decl.path is not None:
        yield posixpath.normpath(posixpath.join(directory, *decl.module, decl.path)), True
        return
    inner = posixpath.join(base, *decl.module) if decl.module else base
    yield posixpath.normpath(posixpath.join(inner, decl.name + ".rs")), False
    yield posixpath.normpath(posixpath.join(inner, decl.name, "mod.rs")), True
