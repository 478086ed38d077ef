"""The other files of the crates a pull request touches, so the engine can follow Drop across files.

A `Drop` in an untouched file can reach a touched function in another, so the engine needs
the whole crate, not only the changed files. It gets it with two requests at most, whatever
the crate's size, and none for a pull request without Rust:

1. `GET .../git/trees/{head}?recursive=1`: every path, blob SHA and size at the head commit.
   The crates are the nearest `Cargo.toml` above each changed `.rs` file; the files chosen
   are the `.rs` files and `Cargo.toml` under those crates (not under a nested crate, a
   `target/` or a hidden directory, nor excluded by the configuration), each within the
   engine's size limit, all together within `CONTEXT_BYTES`, nearest to the changes first.
2. `GET .../tarball/{head}`, only when a chosen file is not in the blob cache: one archive
   rather than one request per file (a 40-file crate would cost 40 blob requests, and such
   bursts trip GitHub's secondary rate limits). Only the chosen members are kept.

Fetching only the blobs that module resolution points at would need `mod`/`use` resolution
here, which is Rust syntax (`rules/` owns it; `bot/` knows none), and a round trip per
step. Both answers are cached in the review's byte-bounded, content-addressed cache: the
listing by commit SHA, the files by blob SHA. A rescan of the same head costs no request;
a later push costs the listing, plus the archive only when a file of the crate that the
cache has not seen appears. Any failure here only narrows the review to the changed files,
and the check run's summary says why.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import posixpath
import tarfile
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping, MutableMapping
from dataclasses import dataclass

import gidgethub.abc

from bot.github import GITHUB_ERRORS, describe, download
from bot.review.fetch import repo_vars
from rules.engine import MAX_SOURCE_BYTES

MANIFEST = "Cargo.toml"
CONTEXT_BYTES = 16 * 2**20
"""The most bytes of other crate files one review reads (what the engine then parses)."""
ARCHIVE_BYTES = 64 * 2**20
"""The largest repository (all its files at the head, uncompressed) whose archive is fetched."""
ARCHIVE_ERRORS = (tarfile.TarError, EOFError, zlib.error)
_SKIPPED_DIRS = ("target",)  # cargo's build output; hidden directories are skipped too


@dataclass(frozen=True, slots=True)
class Blob:
    """One file of the head commit's tree listing."""

    path: str
    sha: str
    size: int


@dataclass(frozen=True, slots=True)
class Tree:
    """The part of a commit's tree listing the review uses: Rust files and manifests, the size
    of all files together (the archive's size, near enough), and whether GitHub cut it short."""

    blobs: tuple[Blob, ...]
    total: int
    truncated: bool

    def to_bytes(self) -> bytes:
        listed = [[b.path, b.sha, b.size] for b in self.blobs]
        data = {"blobs": listed, "total": self.total, "truncated": self.truncated}
        return json.dumps(data).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Tree:
        raw = json.loads(data)
        return cls(tuple(Blob(*b) for b in raw["blobs"]), raw["total"], raw["truncated"])

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Tree:
        """From GitHub's answer: blobs only (no directories, symlinks or submodules)."""
        entries = data.get("tree")
        listed = entries if isinstance(entries, list) else []
        files = [e for e in listed if e.get("type") == "blob" and e.get("mode") != "120000"]
        wanted = (
            Blob(e["path"], e["sha"], int(e.get("size") or 0))
            for e in files
            if _kept_name(e["path"])
        )
        total = sum(int(e.get("size") or 0) for e in files)
        return cls(tuple(wanted), total, bool(data.get("truncated")))


@dataclass(frozen=True)
class Choice:
    """The files to read, and what was left out, in words for the check-run summary."""

    blobs: tuple[Blob, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CrateFiles:
    """What the engine gets besides the changed files: Rust sources and manifests by path."""

    sources: tuple[tuple[str, bytes], ...] = ()
    manifests: tuple[tuple[str, bytes], ...] = ()
    notes: tuple[str, ...] = ()


def _kept_name(path: str) -> bool:
    return path.endswith(".rs") or posixpath.basename(path) == MANIFEST


def _skipped_dir(path: str) -> bool:
    return any(p.startswith(".") or p in _SKIPPED_DIRS for p in path.split("/")[:-1])


def crate_root(path: str, roots: Collection[str]) -> str | None:
    """The directory of the nearest `Cargo.toml` above `path` ("" is the repository's root)."""
    directory = posixpath.dirname(path)
    while True:
        if directory in roots:
            return directory
        if not directory:
            return None
        directory = posixpath.dirname(directory)


def _distance(path: str, changed: Collection[str]) -> int:
    """How many directories apart `path` is from the nearest changed file (0: beside one)."""
    mine = path.split("/")[:-1]

    def apart(other: str) -> int:
        theirs = other.split("/")[:-1]
        shared = len(posixpath.commonprefix([mine, theirs]))
        return len(mine) + len(theirs) - 2 * shared

    return min(apart(c) for c in changed)


def choose(
    tree: Tree,
    changed: Collection[str],
    skip: Callable[[str], bool],
    *,
    budget: int = CONTEXT_BYTES,
    file_limit: int = MAX_SOURCE_BYTES,
) -> Choice:
    """The other files of the crates of the `changed` paths worth reading, nearest first.

    `skip` says which paths the review must not read (the PR's own files, excluded ones).
    """
    manifests = [
        b for b in tree.blobs if posixpath.basename(b.path) == MANIFEST and not _skipped_dir(b.path)
    ]
    roots = {posixpath.dirname(b.path) for b in manifests}
    mine = {r for r in (crate_root(p, roots) for p in changed) if r is not None}
    candidates = [
        b
        for b in tree.blobs
        if not _skipped_dir(b.path) and not skip(b.path) and crate_root(b.path, roots) in mine
    ]
    near = [c for c in changed if crate_root(c, roots) in mine]
    candidates.sort(
        key=lambda b: (posixpath.basename(b.path) != MANIFEST, _distance(b.path, near), b.path)
    )
    chosen: list[Blob] = []
    notes: list[str] = []
    over = 0
    for blob in candidates:
        if blob.size > file_limit:
            notes.append(
                f"`{blob.path}`: {blob.size / 2**20:.1f} MB is over the "
                f"{file_limit // 2**20} MB limit (not read for the crate's context)"
            )
        elif blob.size > budget:
            over += 1
        else:
            budget -= blob.size
            chosen.append(blob)
    if over:
        notes.append(
            f"{over} more file(s) of the crate not read: over the {CONTEXT_BYTES // 2**20} MB "
            "the review reads besides the changed files"
        )
    if tree.truncated:
        notes.append("GitHub cut the repository's file listing short: the crate may be incomplete")
    return Choice(tuple(chosen), tuple(notes))


async def read_crate_files(
    gh: gidgethub.abc.GitHubAPI,
    owner: str,
    repo: str,
    head: str,
    changed: Collection[str],
    skip: Callable[[str], bool],
    cache: MutableMapping[str, bytes],
) -> CrateFiles:
    """The rest of the crates the `changed` Rust files belong to, at commit `head`.

    Never raises for GitHub's sake: what cannot be read becomes a note, and the review goes
    on with the changed files alone. No changed Rust file: no request.
    """
    if not changed:
        return CrateFiles()
    try:
        tree = await _tree(gh, owner, repo, head, cache)
        choice = choose(tree, changed, skip)
        contents = {b.sha: data for b in choice.blobs if (data := cache.get(b.sha)) is not None}
        missing = [b for b in choice.blobs if b.sha not in contents]
        notes = list(choice.notes)
        if missing and (tree.truncated or tree.total > ARCHIVE_BYTES):
            notes.append(
                f"{len(missing)} file(s) of the crate not read: the repository is over the "
                f"{ARCHIVE_BYTES // 2**20} MB the review downloads"
            )
        elif missing:
            contents.update(await _from_archive(gh, owner, repo, head, missing, cache))
    except (*GITHUB_ERRORS, *ARCHIVE_ERRORS) as error:
        return CrateFiles(notes=(f"the crate's other files could not be read: {describe(error)}",))
    read = [(b.path, contents[b.sha]) for b in choice.blobs if b.sha in contents]
    return CrateFiles(
        sources=tuple((p, d) for p, d in read if p.endswith(".rs")),
        manifests=tuple((p, d) for p, d in read if not p.endswith(".rs")),
        notes=tuple(notes),
    )


def _tree_key(commit: str) -> str:
    """The cache key of a commit's listing: distinct from any blob's (a SHA alone)."""
    return f"tree:{commit}"


async def _tree(
    gh: gidgethub.abc.GitHubAPI,
    owner: str,
    repo: str,
    head: str,
    cache: MutableMapping[str, bytes],
) -> Tree:
    cached = cache.get(_tree_key(head))
    if cached is not None:
        return Tree.from_bytes(cached)
    data = await gh.getitem(
        "/repos/{owner}/{repo}/git/trees/{tree_sha}{?recursive}",
        repo_vars(owner, repo, tree_sha=head, recursive=1),
    )
    tree = Tree.from_json(data)
    cache[_tree_key(head)] = tree.to_bytes()
    return tree


async def _from_archive(
    gh: gidgethub.abc.GitHubAPI,
    owner: str,
    repo: str,
    head: str,
    wanted: Collection[Blob],
    cache: MutableMapping[str, bytes],
) -> dict[str, bytes]:
    """The `wanted` files out of the head's archive, by blob SHA; each also goes to the cache
    when its bytes are the blob's (a `.gitattributes` filter may change what is archived)."""
    archive = await download(
        gh, "/repos/{owner}/{repo}/tarball/{ref}", repo_vars(owner, repo, ref=head)
    )
    by_path = {b.path: b for b in wanted}
    found: dict[str, bytes] = {}
    # decompressing tens of megabytes would hold up the event loop: a worker thread does it
    members = await asyncio.to_thread(lambda: list(_members(archive, by_path)))
    for path, data in members:
        sha = by_path[path].sha
        found[sha] = data
        if _blob_sha(data) == sha:
            cache[sha] = data
    return found


def _members(archive: bytes, wanted: Mapping[str, Blob]) -> Iterator[tuple[str, bytes]]:
    """(path, bytes) of the wanted regular files of codeload's `.tar.gz`, whose members all
    sit under one top directory; stops once every wanted file was seen."""
    left = set(wanted)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r|gz") as members:
        for member in members:
            path = member.name.partition("/")[2]
            if path not in left or not member.isfile() or member.size > MAX_SOURCE_BYTES:
                continue
            extracted = members.extractfile(member)
            if extracted is not None:
                yield path, extracted.read()
                left.discard(path)
            if not left:
                return


def _blob_sha(data: bytes) -> str:
    """git's blob id: sha1 of `blob <size>\\0` and the content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
