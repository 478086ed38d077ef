"""`dropsafe check --base REV`: the working tree's diff against a revision.

The diff is git's own (rename detection on), with every option that user
configuration could change pinned, so `rules.diff.parse_diff` always sees
git's default format: a/ b/ prefixes, 3 context lines, no colour, no external
diff or textconv, paths relative to the repository root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_DIFF_OPTIONS = (
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-relative",
    "-M",
    "--unified=3",
    "--src-prefix=a/",
    "--dst-prefix=b/",
)


class GitError(Exception):
    """git could not produce the diff (one-line message for stderr)."""


@dataclass(frozen=True)
class GitDiff:
    """The diff text and the repository root its paths are relative to."""

    root: Path
    text: str


def diff_against(rev: str, paths: Sequence[str | os.PathLike[str]] = ()) -> GitDiff:
    """Diff the working tree under `paths` (default: the current directory) against `rev`.

    The repository is the one holding the first path. Untracked files that are
    not ignored count as added, as they are part of the working tree: they are
    marked intent-to-add in a throwaway copy of the index, never in the real one.
    `HEAD` in a repository without commits yet (a pre-commit hook's first
    commit) is the empty tree: every line is new.
    """
    targets = [Path(path) for path in paths] or [Path(".")]
    first = targets[0]
    start = first if first.is_dir() else first.parent
    if not start.is_dir():
        raise GitError(f"{first}: no such file or directory")
    root = repository_root(start)
    if root is None:
        raise GitError(f"{first}: not inside a git repository")
    if not rev or rev.startswith("-"):
        raise GitError(f"bad revision {rev!r}")
    try:
        _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except GitError:
        if rev != "HEAD" or _has_commits(root):
            raise GitError(f"unknown revision {rev!r} in the git repository at {root}") from None
        rev = _git(root, "hash-object", "-t", "tree", "--stdin", stdin="").strip()
    pathspecs = [_relative(target, root) for target in targets]

    with tempfile.TemporaryDirectory(prefix="dropsafe-index-") as scratch:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(scratch) / "index")}
        index = root / _git(root, "rev-parse", "--git-path", "index").strip()
        if index.is_file():
            shutil.copyfile(index, env["GIT_INDEX_FILE"])
        untracked = _git(root, "ls-files", "-z", "--others", "--exclude-standard", "--", *pathspecs)
        if untracked:
            _git(
                root,
                "add",
                "--intent-to-add",
                "--pathspec-from-file=-",
                "--pathspec-file-nul",
                stdin=untracked,
                env=env,
            )
        text = _git(root, "diff", *_DIFF_OPTIONS, rev, "--", *pathspecs, env=env)
    return GitDiff(root=root, text=text)


def repository_root(start: str | os.PathLike[str]) -> Path | None:
    """The root of the git work tree holding the directory `start`, or None
    (not in one, or no git): what the paths of a diff git made are relative to."""
    try:
        return Path(_git(Path(start), "rev-parse", "--show-toplevel").strip()).resolve()
    except GitError:
        return None


def _has_commits(root: Path) -> bool:
    return bool(_git(root, "rev-list", "-n", "1", "--all").strip())


def _relative(path: Path, root: Path) -> str:
    """`path` as a pathspec relative to `root`; GitError when it lies outside.

    The absolute path is tried before the resolved one so a symlink inside
    the repository still counts as inside.
    """
    for candidate in (Path(os.path.abspath(path)), path.resolve()):
        if candidate.is_relative_to(root):
            return candidate.relative_to(root).as_posix()
    raise GitError(f"{path}: outside the git repository at {root}")


def _git(
    cwd: Path, *args: str, stdin: str | None = None, env: Mapping[str, str] | None = None
) -> str:
    """Run git in `cwd`; its output decoded as paths are (undecodable bytes kept
    as surrogates, the way `os.fsdecode` keeps them)."""
    try:
        done = subprocess.run(
            # quoted paths are what rules.diff expects, whatever core.quotePath says
            ["git", "-c", "core.quotePath=true", *args],
            cwd=cwd,
            input=stdin.encode("utf-8", "surrogateescape") if stdin is not None else None,
            capture_output=True,
            env=env,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {message[-1] if message else done.returncode}")
    return done.stdout.decode("utf-8", "surrogateescape")
