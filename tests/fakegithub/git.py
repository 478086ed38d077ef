"""A commit's files as git shows them: the recursive tree listing and the tar archive.

`GET .../git/trees/{sha}?recursive=1` lists every blob and directory of a commit with
git's own SHAs; `GET .../tarball/{ref}` redirects to codeload, which sends `git archive`'s
layout: one top directory `<owner>-<repo>-<short sha>/` and a pax global header whose
comment is the commit id. Both are built here from the fake's files at that ref.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass

from .diff import git_blob_sha

BLOB_MODE, TREE_MODE = "100644", "040000"
TREE_LIMIT = 100_000
"""GitHub lists at most this many entries of a recursive tree, then sets `truncated`."""


@dataclass(frozen=True)
class TreeEntry:
    path: str
    mode: str
    type: str  # blob | tree
    sha: str
    size: int | None  # blobs only


def tree_listing(files: Mapping[str, bytes]) -> tuple[str, list[TreeEntry]]:
    """The root tree's SHA and every entry below it, in git's order (paths sorted)."""
    entries: list[TreeEntry] = []
    root = _tree(files, "", entries)
    return root, sorted(entries, key=lambda e: e.path)


def _tree(files: Mapping[str, bytes], prefix: str, out: list[TreeEntry]) -> str:
    """Hash the directory `prefix` as git does, appending its entries to `out`."""
    names: dict[str, tuple[str, str]] = {}  # name -> (mode, sha)
    children = {p[len(prefix) :].split("/", 1)[0] for p in files if p.startswith(prefix)}
    for name in children:
        path = prefix + name
        if path in files:
            sha = git_blob_sha(files[path])
            names[name] = (BLOB_MODE, sha)
            out.append(TreeEntry(path, BLOB_MODE, "blob", sha, len(files[path])))
        else:
            sha = _tree(files, path + "/", out)
            names[name] = (TREE_MODE, sha)
            out.append(TreeEntry(path, TREE_MODE, "tree", sha, None))
    # git sorts a directory's entries by name, a subdirectory as if its name ended in "/"
    order = sorted(names, key=lambda n: n + "/" if names[n][0] == TREE_MODE else n)
    body = b"".join(
        b"%s %s\0" % (names[n][0].lstrip("0").encode(), n.encode()) + bytes.fromhex(names[n][1])
        for n in order
    )
    return hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()


def archive_prefix(owner: str, repo: str, sha: str) -> str:
    """The top directory of codeload's archive of a commit."""
    return f"{owner}-{repo}-{sha[:7]}/"


def tarball(files: Mapping[str, bytes], prefix: str, commit: str) -> bytes:
    """A gzipped tar of `files` under `prefix`, as `git archive --format=tar.gz` writes it."""
    buffer = io.BytesIO()
    with tarfile.open(
        fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT, pax_headers={"comment": commit}
    ) as archive:
        directory = tarfile.TarInfo(prefix.rstrip("/"))
        directory.type, directory.mode = tarfile.DIRTYPE, 0o775
        archive.addfile(directory)
        for path in sorted(files):
            info = tarfile.TarInfo(prefix + path)
            info.size, info.mode = len(files[path]), 0o664
            archive.addfile(info, io.BytesIO(files[path]))
    return buffer.getvalue()
