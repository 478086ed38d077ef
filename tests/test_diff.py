"""Diff parsing against real `git diff` output, hand-written edge cases, and `--base`.

The repositories are made in the test with git itself, isolated from the
user's and the system's git configuration.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bot.gitdiff import GitError, diff_against
from rules.diff import DiffError, diff_contents, parse_diff, parse_patch
from rules.scope import FileChange, Mode

TWENTY = "".join(f"line {n}\n" for n in range(1, 21))


class Repo:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        self.git("init", "-q")

    def git(self, *args: str) -> str:
        done = subprocess.run(["git", *args], cwd=self.root, capture_output=True, check=True)
        return done.stdout.decode("utf-8", "surrogateescape")

    def write(self, path: str, content: str | bytes) -> None:
        file = self.root / path
        file.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        file.write_bytes(content)

    def commit(self, message: str = "change") -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)

    def diff_of(self, path: str, old: str, new: str) -> FileChange:
        """git's own diff of one file from `old` to `new`, parsed."""
        self.write(path, old)
        self.commit()
        self.write(path, new)
        return parse_diff(self.git("diff"))[path]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    for name, value in {
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CEILING_DIRECTORIES": str(tmp_path),
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }.items():
        monkeypatch.setenv(name, value)
    return Repo(tmp_path / "repo")


@pytest.fixture
def many_kinds(repo: Repo) -> Repo:
    """Two commits whose diff has one file of each kind git can show."""
    repo.write("src/two_hunks.rs", TWENTY)
    repo.write("src/no_newline.rs", "fn a() {}\nfn b() {}\nfn c() {}\n")
    repo.write("src/gone.rs", "fn gone() {}\n")
    repo.write("src/old.rs", "".join(f"fn f{n}() {{}}\n" for n in range(1, 9)))
    repo.write("src/same_old.rs", "fn same() {}\n")
    repo.write("src/original.rs", "".join(f"const C{n}: u8 = {n};\n" for n in range(1, 9)))
    repo.write("run.sh", "echo hi\n")
    repo.write("dir with space/my file.rs", "one\ntwo\nthree\n")
    repo.write("a b/c.rs", "z\n")
    repo.write("café.rs", "é\n")
    repo.write('q"uote.rs', "q\n")
    repo.commit("base")

    lines = TWENTY.splitlines(keepends=True)
    lines[1] = "changed 2\n"
    lines.insert(17, "inserted\n")
    repo.write("src/two_hunks.rs", "".join(lines))
    repo.write("src/no_newline.rs", "fn a() {}\nfn b2() {}\nfn c() {}\nfn d() {}")
    (repo.root / "src/gone.rs").unlink()
    (repo.root / "src/old.rs").rename(repo.root / "src/new.rs")
    with (repo.root / "src/new.rs").open("a") as file:
        file.write("fn f9() {}\n")
    (repo.root / "src/same_old.rs").rename(repo.root / "src/same_new.rs")
    original = (repo.root / "src/original.rs").read_text()
    repo.write("src/copy.rs", original + "const EXTRA: u8 = 0;\n")
    (repo.root / "run.sh").chmod(0o755)
    repo.write("logo.bin", b"\x00\x01\x02binary\x00")
    repo.write("src/fresh.rs", "fn x() {}\nfn y() {}")  # new, no newline at end
    repo.write("src/empty.rs", "")
    repo.write("dir with space/my file.rs", "one\nTWO\nthree\n")
    repo.write("a b/c.rs", "z\nz2\n")
    repo.write("café.rs", "é\né2\n")
    repo.write('q"uote.rs', "q\nq2\n")
    repo.commit("second")
    return repo


GIT_DIFF = ("diff", "-M", "-C", "--find-copies-harder", "HEAD~1", "HEAD")


def test_git_diff_of_every_kind_of_file(many_kinds: Repo) -> None:
    changes = parse_diff(many_kinds.git(*GIT_DIFF))

    def summary(path: str) -> tuple[str | None, str, bool, set[int], tuple[tuple[int, int], ...]]:
        c = changes[path]
        return c.old_path, c.status, c.binary, set(c.added), c.hunks

    assert summary("src/two_hunks.rs") == (None, "modified", False, {2, 18}, ((1, 5), (15, 21)))
    assert summary("src/no_newline.rs") == (None, "modified", False, {2, 4}, ((1, 4),))
    assert summary("src/gone.rs") == (None, "deleted", False, set(), ())
    assert summary("src/new.rs") == ("src/old.rs", "renamed", False, {9}, ((6, 9),))
    assert summary("src/same_new.rs") == ("src/same_old.rs", "renamed", False, set(), ())
    assert summary("src/copy.rs") == ("src/original.rs", "copied", False, {9}, ((6, 9),))
    assert summary("run.sh") == (None, "modified", False, set(), ())
    assert summary("logo.bin") == (None, "added", True, set(), ())
    assert summary("src/fresh.rs") == (None, "added", False, {1, 2}, ((1, 2),))
    assert summary("src/empty.rs") == (None, "added", False, set(), ())
    assert summary("dir with space/my file.rs") == (None, "modified", False, {2}, ((1, 3),))
    assert summary("a b/c.rs") == (None, "modified", False, {2}, ((1, 2),))
    assert summary("café.rs") == (None, "modified", False, {2}, ((1, 2),))
    assert summary('q"uote.rs') == (None, "modified", False, {2}, ((1, 2),))
    assert len(changes) == 14


def test_the_paths_really_were_quoted(many_kinds: Repo) -> None:
    text = many_kinds.git(*GIT_DIFF)
    assert '"b/caf\\303\\251.rs"' in text
    assert '"b/q\\"uote.rs"' in text
    assert "+++ b/dir with space/my file.rs\t\n" in text  # git's trailing tab


def test_binary_patch_stanza(many_kinds: Repo) -> None:
    text = many_kinds.git(*GIT_DIFF, "--binary")
    assert "GIT binary patch" in text
    assert parse_diff(text) == parse_diff(many_kinds.git(*GIT_DIFF))


def test_format_patch_output_parses_like_the_diff(many_kinds: Repo) -> None:
    # a commit message and diffstat before the first file, a signature after the last
    text = many_kinds.git("format-patch", "--stdout", "-M", "-C", "--find-copies-harder", "-1")
    assert text.rstrip().splitlines()[-2] == "-- "
    assert parse_diff(text) == parse_diff(many_kinds.git(*GIT_DIFF))


def test_rename_to_a_quoted_name(repo: Repo) -> None:
    repo.write("plain name.rs", TWENTY)
    repo.commit()
    (repo.root / "plain name.rs").rename(repo.root / "naïve\tname.rs")
    repo.commit()
    text = repo.git("diff", "-M", "HEAD~1", "HEAD")
    assert 'rename to "na\\303\\257ve\\tname.rs"' in text
    change = parse_diff(text)["naïve\tname.rs"]
    assert (change.old_path, change.status, change.hunks) == ("plain name.rs", "renamed", ())


def test_deletion_only_hunk_touches_no_added_line(repo: Repo) -> None:
    change = repo.diff_of("a.rs", TWENTY, TWENTY.replace("line 10\n", ""))
    assert change.added == frozenset()
    assert change.hunks == ((7, 12),)
    assert change.touched(Mode.DIFF_CONTEXT) == frozenset(range(7, 13))


def test_removing_the_last_newline_modifies_the_last_line(repo: Repo) -> None:
    change = repo.diff_of("a.rs", "a\nb\nc\n", "a\nb\nc")
    assert change.added == {3}


def test_empty_diff() -> None:
    assert parse_diff("") == {}


def test_plain_unified_diff_without_git_headers() -> None:
    text = "--- a/x.rs\t2024-01-01\n+++ b/x.rs\t2024-01-02\n@@ -1,2 +1,2 @@\n a\n-b\n+B\n"
    change = parse_diff(text)["x.rs"]
    assert (change.status, change.added, change.hunks) == ("modified", {2}, ((1, 2),))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello\nworld\n", "not a unified diff"),
        # the header counts 3 new lines, the hunk has 2
        ("--- a/x\n+++ b/x\n@@ -1 +1,3 @@\n-a\n+b\n+c\n", "shorter than expected"),
        # the header counts 1 new line, the hunk has 2
        ("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n+c\n", "more lines than its header counts"),
        (
            "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n+d\n",
            "more lines than its header counts",
        ),
        ("diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n a\nxyz\n", "line expected"),
        ("diff --git a/x b/x\n@@ -1 +1 @@\n-a\n+b\n", "Unexpected hunk"),
        ("@@ -1 +1 @@\n-a\n+b\n", "Unexpected hunk"),
    ],
)
def test_malformed_diffs(text: str, message: str) -> None:
    with pytest.raises(DiffError, match=message) as raised:
        parse_diff(text)
    assert "\n" not in str(raised.value)
    assert isinstance(raised.value, ValueError)


GITHUB_PATCH = (
    "@@ -1,4 +1,5 @@\n"
    " use std::sync::Mutex;\n"
    "+use std::thread;\n"
    " \n"
    " struct Guard;\n"
    " impl Drop for Guard {\n"
    "@@ -20,3 +21,4 @@ impl Drop for Guard {\n"
    "     fn drop(&mut self) {\n"
    "-        self.close();\n"
    "+        self.close().unwrap();\n"
    "+        thread::sleep(ONE);\n"
    "     }\n"
    "\\ No newline at end of file"
)


def test_github_patch() -> None:
    change = parse_patch("src/guard.rs", GITHUB_PATCH)
    assert (change.path, change.status, change.binary) == ("src/guard.rs", "modified", False)
    assert change.added == {2, 22, 23}
    assert change.hunks == ((1, 5), (21, 24))


def test_github_statuses() -> None:
    assert parse_patch("a.rs", "", "removed").status == "deleted"
    assert parse_patch("a.rs", "", "changed").status == "modified"
    renamed = parse_patch("b.rs", "", "renamed", old_path="a.rs")
    assert (renamed.status, renamed.old_path, renamed.hunks) == ("renamed", "a.rs", ())
    with pytest.raises(DiffError, match="unknown file status 'moved'"):
        parse_patch("a.rs", "", "moved")


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b", "does not start with a hunk header"),
        ("@@ -1 +1 @@\n-a\n+b\n+c", "more lines than its header counts"),
        ("@@ -1,3 +1,3 @@\n-a\n+b", "shorter than expected"),
    ],
)
def test_malformed_github_patch(patch: str, message: str) -> None:
    with pytest.raises(DiffError, match=message):
        parse_patch("a.rs", patch)


def test_github_patch_agrees_with_git(repo: Repo) -> None:
    new = TWENTY.replace("line 3\n", "three\n").replace("line 16\n", "line 16\nnew 1\nnew 2\n")
    from_git = repo.diff_of("a.rs", TWENTY, new)
    hunks_only = repo.git("diff", "a.rs").split("\n@@", 1)[1]
    assert parse_patch("a.rs", "@@" + hunks_only.rstrip("\n")) == from_git


SAME_CHANGES = [
    (TWENTY, TWENTY.replace("line 2\n", "two\n").replace("line 18\n", "line 18\nnew\n")),
    (TWENTY, TWENTY.replace("line 10\n", "")),
    ("a\nb\nc\n", "a\nb\nc"),
    ("a\nb\nc", "a\nb\nc\nd\n"),
    ("", "fn main() {}\n"),
    (TWENTY, "fn main() {}\n" + TWENTY + "fn end() {}\n"),
]


@pytest.mark.parametrize(("old", "new"), SAME_CHANGES)
def test_diff_contents_agrees_with_git(repo: Repo, old: str, new: str) -> None:
    from_git = repo.diff_of("a.rs", old, new)
    assert diff_contents("a.rs", old, new) == from_git
    assert diff_contents("a.rs", old.encode(), new.encode()) == from_git


def test_diff_contents_of_equal_texts() -> None:
    change = diff_contents("a.rs", TWENTY, TWENTY)
    assert (change.added, change.hunks) == (frozenset(), ())


def test_diff_contents_splits_lines_at_newlines_only() -> None:
    # a form feed is not a line end for git, so the change is on line 2
    change = diff_contents("a.rs", "a\fb\nc\n", "a\fb\nC\n")
    assert change.added == {2}


# --base: the working tree against a revision


@pytest.fixture
def worktree(repo: Repo) -> Repo:
    repo.write(".gitignore", "*.log\n")
    repo.write("src/lib.rs", TWENTY)
    repo.write("src/keep.rs", "fn keep() {}\n")
    repo.commit("base")
    repo.write("src/lib.rs", TWENTY.replace("line 5\n", "five\n"))  # tracked, not staged
    repo.write("src/new.rs", "fn new() {}\n")  # untracked
    repo.write("src/debug.log", "ignored\n")
    return repo


def test_base_diff_of_the_working_tree(worktree: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(worktree.root.parent)  # paths need not be relative to the cwd
    result = diff_against("HEAD", [str(worktree.root / "src")])
    assert result.root == worktree.root.resolve()
    changes = parse_diff(result.text)
    assert sorted(changes) == ["src/lib.rs", "src/new.rs"]
    assert changes["src/lib.rs"].added == {5}
    assert (changes["src/new.rs"].status, changes["src/new.rs"].added) == ("added", {1})
    # the untracked file was added to a throwaway index only
    assert "?? src/new.rs" in worktree.git("status", "--porcelain")


def test_base_diff_limited_to_the_given_paths(worktree: Repo) -> None:
    result = diff_against("HEAD", [worktree.root / "src/keep.rs", worktree.root / "src/new.rs"])
    assert sorted(parse_diff(result.text)) == ["src/new.rs"]


def test_base_diff_ignores_user_diff_settings(worktree: Repo) -> None:
    for key, value in [
        ("diff.noprefix", "true"),
        ("color.ui", "always"),
        ("diff.context", "0"),
        ("core.quotePath", "false"),
        ("diff.mnemonicPrefix", "true"),
    ]:
        worktree.git("config", key, value)
    change = parse_diff(diff_against("HEAD", [worktree.root]).text)["src/lib.rs"]
    assert change.hunks == ((2, 8),)


def test_base_diff_against_an_older_commit(worktree: Repo) -> None:
    worktree.commit("second")
    result = diff_against("HEAD~1", [worktree.root])
    assert sorted(parse_diff(result.text)) == ["src/lib.rs", "src/new.rs"]


@pytest.mark.parametrize("rev", ["no-such-branch", "HEAD~5", "--output=x", ""])
def test_bad_revision(worktree: Repo, rev: str) -> None:
    with pytest.raises(GitError, match="revision") as raised:
        diff_against(rev, [worktree.root])
    assert "\n" not in str(raised.value)


def test_path_outside_any_repository(repo: Repo, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    with pytest.raises(GitError, match="not inside a git repository"):
        diff_against("HEAD", [outside])


def test_second_path_outside_the_repository(worktree: Repo, tmp_path: Path) -> None:
    with pytest.raises(GitError, match="outside the git repository"):
        diff_against("HEAD", [worktree.root / "src", tmp_path])
