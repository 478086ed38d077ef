"""Reading a pull request from GitHub: the PR, its files, their contents, the config.

The only module of the review that talks REST besides the pipeline's writes.
Contents are read by blob SHA (content-addressed, so cached forever) and blobs
are fetched a few at a time: concurrency hides latency without tripping
GitHub's secondary rate limits.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

import cachetools
import gidgethub
import gidgethub.abc

from rules.config import CONFIG_PATH
from rules.diff import DiffError, FileChange, diff_contents, parse_patch
from rules.engine import over_size_limit

log = logging.getLogger(__name__)

BLOB_CONCURRENCY = 12
# GitHub's file statuses, in rules.diff's vocabulary (copied/changed files are new-side edits).
_STATUS = {"added": "added", "removed": "deleted", "renamed": "renamed"}


@dataclass(frozen=True)
class Pull:
    """What the review needs from GET .../pulls/{n}."""

    number: int
    head_sha: str
    base_sha: str
    default_branch: str
    state: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pull:
        return cls(
            number=int(data["number"]),
            head_sha=data["head"]["sha"],
            base_sha=data["base"]["sha"],
            default_branch=data["base"]["repo"]["default_branch"],
            state=data["state"],
        )


@dataclass(frozen=True)
class ChangedFile:
    """One changed Rust file, ready for the engine: head content and parsed hunks."""

    path: str
    source: bytes
    change: FileChange | None  # None when the file is too large to diff (the engine skips it)
    commentable: bool = True  # False when GitHub sent no patch: it rejects comments there


class BlobCache(cachetools.LRUCache[str, bytes]):
    """Contents by blob SHA, bounded in bytes (LRU). A value over `max_item` bytes is not kept:
    cachetools refuses one larger than the whole cache (`ValueError: value too large`), and a
    big one would evict everything else."""

    def __init__(self, maxsize: int, max_item: int | None = None) -> None:
        super().__init__(maxsize=maxsize, getsizeof=len)
        self.max_item = max_item if max_item is not None else maxsize // 8

    def __setitem__(self, key: str, value: bytes) -> None:
        if len(value) <= self.max_item:
            super().__setitem__(key, value)


def repo_vars(owner: str, repo: str, **extra: object) -> dict[str, Any]:
    return {"owner": owner, "repo": repo, **extra}


async def get_pull(gh: gidgethub.abc.GitHubAPI, owner: str, repo: str, number: int) -> Pull:
    data = await gh.getitem(
        "/repos/{owner}/{repo}/pulls/{pull_number}", repo_vars(owner, repo, pull_number=number)
    )
    return Pull.from_json(data)


async def list_files(
    gh: gidgethub.abc.GitHubAPI, owner: str, repo: str, number: int
) -> list[dict[str, Any]]:
    """Every file of the PR (GitHub lists at most 3000)."""
    return await _list_of_pull(gh, owner, repo, number, "files")


async def list_review_comments(
    gh: gidgethub.abc.GitHubAPI, owner: str, repo: str, number: int
) -> list[dict[str, Any]]:
    return await _list_of_pull(gh, owner, repo, number, "comments")


async def list_reviews(
    gh: gidgethub.abc.GitHubAPI, owner: str, repo: str, number: int
) -> list[dict[str, Any]]:
    return await _list_of_pull(gh, owner, repo, number, "reviews")


async def _list_of_pull(
    gh: gidgethub.abc.GitHubAPI, owner: str, repo: str, number: int, what: str
) -> list[dict[str, Any]]:
    """All pages of `.../pulls/{n}/<what>`, 100 a page (the most GitHub gives): fewest calls."""
    url = "/repos/{owner}/{repo}/pulls/{pull_number}/" + what + "{?per_page}"
    variables = repo_vars(owner, repo, pull_number=number, per_page=100)
    return [item async for item in gh.getiter(url, variables)]


async def get_blob(
    gh: gidgethub.abc.GitHubAPI, owner: str, repo: str, sha: str, cache: MutableMapping[str, bytes]
) -> bytes:
    """A blob's bytes by SHA; the cache never goes stale because the key is the content's hash."""
    cached = cache.get(sha)
    if cached is not None:
        return cached
    data = await gh.getitem(
        "/repos/{owner}/{repo}/git/blobs/{file_sha}", repo_vars(owner, repo, file_sha=sha)
    )
    content = base64.b64decode(data.get("content") or "")
    cache[sha] = content
    return content


async def get_file(
    gh: gidgethub.abc.GitHubAPI,
    owner: str,
    repo: str,
    path: str,
    ref: str,
    cache: MutableMapping[str, bytes],
) -> bytes | None:
    """A file's bytes at `ref` through the contents API, or None when it does not exist there.

    Over 1 MB the contents API leaves `content` empty; the blob SHA it returns
    still works with the blobs API (and its cache).
    """
    try:
        data = await gh.getitem(
            "/repos/{owner}/{repo}/contents/{+path}{?ref}",
            repo_vars(owner, repo, path=path, ref=ref),
        )
    except gidgethub.BadRequest as error:
        if error.status_code == 404:
            return None
        raise
    if not isinstance(data, dict) or data.get("type") != "file":
        return None
    if data.get("content") and data.get("encoding") == "base64":
        content = base64.b64decode(data["content"])
        cache.setdefault(data["sha"], content)
        return content
    return await get_blob(gh, owner, repo, data["sha"], cache)


async def read_config(
    gh: gidgethub.abc.GitHubAPI,
    owner: str,
    repo: str,
    branch: str,
    cache: MutableMapping[str, bytes],
) -> bytes | None:
    """`.github/dropsafe.toml` on the default branch, or None when the repository has none."""
    return await get_file(gh, owner, repo, CONFIG_PATH, branch, cache)


def rust_files(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `.rs` files the PR did not remove (a rename counts under its new name)."""
    return [e for e in entries if e["filename"].endswith(".rs") and e["status"] != "removed"]


async def load_files(
    gh: gidgethub.abc.GitHubAPI,
    owner: str,
    repo: str,
    pull: Pull,
    entries: list[dict[str, Any]],
    cache: MutableMapping[str, bytes],
    *,
    concurrency: int = BLOB_CONCURRENCY,
) -> tuple[list[ChangedFile], dict[str, str]]:
    """Head contents and hunks of `entries`, in order, and the files skipped with why."""
    gate = asyncio.Semaphore(concurrency)

    async def one(entry: dict[str, Any]) -> ChangedFile | str:
        async with gate:
            return await load_file(gh, owner, repo, pull, entry, cache)

    results = await asyncio.gather(*(one(e) for e in entries))
    files = [r for r in results if isinstance(r, ChangedFile)]
    skipped = {
        e["filename"]: r for e, r in zip(entries, results, strict=True) if isinstance(r, str)
    }
    return files, skipped


async def load_file(
    gh: gidgethub.abc.GitHubAPI,
    owner: str,
    repo: str,
    pull: Pull,
    entry: dict[str, Any],
    cache: MutableMapping[str, bytes],
) -> ChangedFile | str:
    """One file ready for the engine, or why it is skipped (too large, binary)."""
    path = entry["filename"]
    source = await get_blob(gh, owner, repo, entry["sha"], cache)
    too_large = over_size_limit(len(source))
    if too_large is not None:
        return too_large  # the bytes go no further than the blob cache, if it keeps them
    if b"\0" in source:
        return "binary file"
    status = _STATUS.get(entry["status"], "modified")
    change = _parse(path, entry.get("patch"), status)
    commentable = change is not None
    if change is None:
        old = b""
        if status != "added":
            base_path = entry.get("previous_filename") or path
            old = await get_file(gh, owner, repo, base_path, pull.base_sha, cache) or b""
        change = diff_contents(path, _text(old), _text(source))
    if change.binary:
        return "binary file"
    return ChangedFile(path, source, change, commentable)


def _parse(path: str, patch: str | None, status: str) -> FileChange | None:
    """The PR's own hunks when GitHub sent them; None (diff locally) when absent or unreadable."""
    if not patch:
        return None
    try:
        return parse_patch(path, patch, status)
    except DiffError:
        log.warning("unreadable patch, diffing contents instead", extra={"path": path})
        return None


def _text(data: bytes) -> str:
    """Lossy decoding keeps line numbers: a replacement character never adds a newline."""
    return data.decode("utf-8", "replace")
