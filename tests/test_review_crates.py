"""The crate context of a review: which other files are read, with how many requests, cached how.

`choose` is pure (a tree listing in, the files to read out); `read_crate_files` runs against
the fake GitHub, which serves the tree listing and the archive from its repository state
and validates each request against GitHub's description.
"""

from __future__ import annotations

import re

import pytest
from app_harness import OWNER, REPO, running_app, seed_pull
from fakegithub import FakeGitHub, git_blob_sha, load_webhook, pull_file
from fakegithub.server import CODELOAD_OPERATION

from bot.github import GitHubClient
from bot.review import crates
from bot.review.comments import parse_marker
from bot.review.crates import Blob, Tree, choose, read_crate_files
from rules.engine import MAX_SOURCE_BYTES

HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"  # the head of the example PR
MODULES = 38


def crate_files(prefix: str = "", modules: int = MODULES) -> dict[str, bytes]:
    """A crate of `modules + 2` files: its manifest, `src/lib.rs` and `src/m<i>.rs`."""
    files = {f"{prefix}Cargo.toml": b'[package]\nname = "demo"\nversion = "0.1.0"\n'}
    files[f"{prefix}src/lib.rs"] = "".join(f"mod m{i};\n" for i in range(modules)).encode()
    for i in range(modules):
        files[f"{prefix}src/m{i}.rs"] = f"pub fn f{i}() {{}}\n".encode()
    return files


def tree_of(sizes: dict[str, int], truncated: bool = False) -> Tree:
    blobs = tuple(Blob(path, f"{n:040x}", size) for n, (path, size) in enumerate(sizes.items()))
    return Tree(blobs, sum(sizes.values()), truncated)


def never(path: str) -> bool:
    return False


# -- choosing the files ---------------------------------------------------------------------


def test_the_crate_of_each_changed_file_is_read_and_nothing_else() -> None:
    tree = tree_of(
        {
            "Cargo.toml": 40,  # a workspace root: a crate of its own
            "src/main.rs": 10,
            "crates/a/Cargo.toml": 40,
            "crates/a/src/lib.rs": 10,
            "crates/a/src/x.rs": 10,
            "crates/a/tests/it.rs": 10,
            "crates/a/fuzz/Cargo.toml": 40,  # a nested crate is another crate
            "crates/a/fuzz/src/main.rs": 10,
            "crates/a/target/debug/build/out.rs": 10,  # build output
            "crates/a/.cargo/helper.rs": 10,  # hidden
            "crates/b/Cargo.toml": 40,
            "crates/b/src/lib.rs": 10,
        }
    )
    choice = choose(tree, ["crates/a/src/x.rs"], lambda path: path == "crates/a/src/x.rs")
    assert [b.path for b in choice.blobs] == [
        "crates/a/Cargo.toml",
        "crates/a/src/lib.rs",
        "crates/a/tests/it.rs",
    ]
    assert choice.notes == ()


def test_a_file_outside_every_crate_brings_no_context() -> None:
    tree = tree_of({"scripts/gen.rs": 10, "crates/a/Cargo.toml": 10, "crates/a/src/lib.rs": 10})
    assert choose(tree, ["scripts/gen.rs"], never).blobs == ()


def test_files_over_the_size_limit_are_noted_and_the_budget_goes_nearest_first() -> None:
    tree = tree_of(
        {
            "Cargo.toml": 10,
            "src/far/away/z.rs": 100,
            "src/net/a.rs": 100,
            "src/net/b.rs": 100,
            "src/generated.rs": 5000,
        }
    )
    choice = choose(tree, ["src/net/c.rs"], never, budget=250, file_limit=1000)
    assert [b.path for b in choice.blobs] == ["Cargo.toml", "src/net/a.rs", "src/net/b.rs"]
    assert choice.notes[0].startswith("`src/generated.rs`: 0.0 MB is over the 0 MB limit")
    assert choice.notes[1].startswith("1 more file(s) of the crate not read")


def test_a_truncated_listing_is_said() -> None:
    choice = choose(
        tree_of({"Cargo.toml": 1, "src/lib.rs": 1}, truncated=True), ["src/a.rs"], never
    )
    assert [b.path for b in choice.blobs] == ["Cargo.toml", "src/lib.rs"]
    assert "cut the repository's file listing short" in choice.notes[0]


def test_a_listing_round_trips_through_the_cache_bytes() -> None:
    tree = tree_of({"Cargo.toml": 3, "src/lib.rs": 4}, truncated=True)
    assert Tree.from_bytes(tree.to_bytes()) == tree


# -- reading them from the fake GitHub ------------------------------------------------------


def api_requests(fake: FakeGitHub) -> list[str]:
    """The REST operations called so far (archive downloads from codeload are not API calls)."""
    return [r.operation_id or "" for r in fake.requests if r.operation_id != CODELOAD_OPERATION]


async def read(
    gh: GitHubClient, fake: FakeGitHub, cache: dict[str, bytes], changed: str, head: str = HEAD
) -> crates.CrateFiles:
    return await read_crate_files(
        gh, OWNER, REPO, head, [changed], lambda path: path == changed, cache
    )


async def test_a_pr_in_a_40_file_crate_costs_a_listing_and_an_archive_then_nothing(
    gh: GitHubClient, fake_github: FakeGitHub
) -> None:
    files = crate_files()
    seed_pull(fake_github, [pull_file("src/m5.rs", files["src/m5.rs"], b"pub fn g() {}\n")])
    fake_github.set_files(OWNER, REPO, HEAD, {p: d for p, d in files.items() if p != "src/m5.rs"})
    cache: dict[str, bytes] = {}

    found = await read(gh, fake_github, cache, "src/m5.rs")
    assert api_requests(fake_github) == ["git/get-tree", "repos/download-tarball-archive"]
    assert len(fake_github.calls(operation_id=CODELOAD_OPERATION)) == 1
    others = {p: d for p, d in files.items() if p.endswith(".rs") and p != "src/m5.rs"}
    assert dict(found.sources) == others and len(others) == MODULES
    assert dict(found.manifests) == {"Cargo.toml": files["Cargo.toml"]}
    assert found.notes == ()
    assert all(cache[git_blob_sha(d)] == d for d in files.values() if d != files["src/m5.rs"])

    fake_github.requests.clear()
    again = await read(gh, fake_github, cache, "src/m5.rs")  # a rescan of the same head
    assert again == found and fake_github.requests == []

    pushed = "2" * 40  # a push that changes the PR's file only: the rest is cached
    fake_github.set_files(OWNER, REPO, pushed, {p: d for p, d in files.items() if p != "src/m5.rs"})
    await read(gh, fake_github, cache, "src/m5.rs", head=pushed)
    assert api_requests(fake_github) == ["git/get-tree"]


async def test_a_pr_without_rust_costs_nothing(gh: GitHubClient, fake_github: FakeGitHub) -> None:
    seed_pull(fake_github, [pull_file("README.md", "a\n", "b\n")])
    found = await read_crate_files(gh, OWNER, REPO, HEAD, [], never, {})
    assert found == crates.CrateFiles() and fake_github.requests == []


async def test_a_file_over_the_engine_limit_is_noted_not_read(
    gh: GitHubClient, fake_github: FakeGitHub
) -> None:
    seed_pull(fake_github, [pull_file("src/a.rs", "", "fn a() {}\n")])
    big = "//" * (MAX_SOURCE_BYTES // 2 + 1)
    fake_github.set_files(OWNER, REPO, HEAD, {"Cargo.toml": "[package]\n", "src/big.rs": big})
    found = await read(gh, fake_github, {}, "src/a.rs")
    assert [p for p, _ in found.manifests] == ["Cargo.toml"] and found.sources == ()
    assert found.notes == (
        "`src/big.rs`: 4.0 MB is over the 4 MB limit (not read for the crate's context)",
    )


async def test_a_repository_too_large_to_download_is_noted_not_fetched(
    gh: GitHubClient, fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(crates, "ARCHIVE_BYTES", 100)
    seed_pull(fake_github, [pull_file("src/a.rs", "", "fn a() {}\n")])
    fake_github.set_files(
        OWNER, REPO, HEAD, {"Cargo.toml": "[package]\n", "src/b.rs": "", "assets/x.bin": "x" * 200}
    )
    found = await read(gh, fake_github, {}, "src/a.rs")
    assert api_requests(fake_github) == ["git/get-tree"]
    assert found.sources == () and "over the 0 MB the review downloads" in found.notes[0]


@pytest.mark.parametrize("failing", ["/repos/{o}/{r}/git/trees/*", "/repos/{o}/{r}/tarball/*"])
async def test_a_failure_narrows_the_review_to_the_changed_files(
    gh: GitHubClient, fake_github: FakeGitHub, failing: str
) -> None:
    seed_pull(fake_github, [pull_file("src/a.rs", "", "fn a() {}\n")])
    fake_github.set_files(OWNER, REPO, HEAD, {"Cargo.toml": "[package]\n", "src/b.rs": "fn b(){}"})
    fake_github.fail_next("GET", failing, 404)
    found = await read(gh, fake_github, {}, "src/a.rs")
    assert found.sources == () and found.manifests == ()
    assert found.notes == (
        "the crate's other files could not be read: GitHub answered 404 Server Error",
    )


async def test_a_broken_archive_narrows_the_review_to_the_changed_files(
    gh: GitHubClient, fake_github: FakeGitHub
) -> None:
    seed_pull(fake_github, [pull_file("src/a.rs", "", "fn a() {}\n")])
    fake_github.set_files(OWNER, REPO, HEAD, {"Cargo.toml": "[package]\n", "src/b.rs": "fn b(){}"})
    fake_github.fail_next("GET", "/_codeload/*", 200, body=b"<html>not an archive</html>")
    cache: dict[str, bytes] = {}
    found = await read(gh, fake_github, cache, "src/a.rs")
    assert found.sources == () and len(found.notes) == 1
    assert found.notes[0].startswith("the crate's other files could not be read: ReadError")
    assert all(key.startswith("tree:") for key in cache)  # nothing half-read was kept


# -- the whole review -------------------------------------------------------------------------


async def test_the_review_of_a_pr_in_a_40_file_crate_makes_two_extra_requests(
    fake_github: FakeGitHub,
) -> None:
    """`pull_request` opened, through the App: the requests of a review without crate
    context, plus the tree listing and the archive, each once."""
    files = crate_files()
    seed_pull(fake_github, [pull_file("src/m5.rs", files["src/m5.rs"], b"pub fn g() {}\n")])
    fake_github.set_files(OWNER, REPO, HEAD, {p: d for p, d in files.items() if p != "src/m5.rs"})
    async with running_app(fake_github) as bot:
        answer = await bot.deliver("pull_request", load_webhook("pull_request.opened"))
        assert answer.status in (200, 202)
        await bot.idle()
    assert sorted(api_requests(fake_github)) == sorted(
        [
            "apps/create-installation-access-token",  # once per hour and installation
            "apps/get-authenticated",  # once per process
            "pulls/get",
            "checks/create",
            "pulls/list-files",
            "repos/get-content",  # .github/dropsafe.toml
            "git/get-blob",  # the changed file
            "git/get-tree",  # the crate: listing ...
            "repos/download-tarball-archive",  # ... and archive
            "pulls/list-review-comments",
            "checks/update",
        ]
    )
    (run,) = fake_github.check_runs
    assert f"and {MODULES} other file(s) of their crates" in run.output["summary"]


async def test_the_review_of_a_pr_without_rust_lists_no_tree(fake_github: FakeGitHub) -> None:
    seed_pull(fake_github, [pull_file("README.md", "a\n", "b\n")])
    fake_github.set_files(OWNER, REPO, HEAD, crate_files())
    async with running_app(fake_github) as bot:
        await bot.deliver("pull_request", load_webhook("pull_request.opened"))
        await bot.idle()
    operations = api_requests(fake_github)
    assert "checks/update" in operations  # the review ran
    assert "git/get-tree" not in operations and "repos/download-tarball-archive" not in operations


REACHED_BASE = {
    "Cargo.toml": '[package]\nname = "pool"\nversion = "0.1.0"\nedition = "2021"\n',
    "src/lib.rs": "pub mod a;\npub mod b;\n",
    "src/a.rs": """\
use std::path::PathBuf;

pub struct X {
    path: PathBuf,
}

impl Drop for X {
    fn drop(&mut self) {
        crate::b::cleanup(&self.path);
    }
}
""",
    "src/b.rs": """\
use std::path::Path;

pub fn cleanup(path: &Path) {
    let _ = std::fs::remove_file(path);
}
""",
}


UNWRAPPING = REACHED_BASE["src/b.rs"].replace(
    "    let _ = std::fs::remove_file(path);\n", "    std::fs::remove_file(path).unwrap();\n"
)
NOT_CALLING = REACHED_BASE["src/a.rs"].replace("        crate::b::cleanup(&self.path);\n", "")


@pytest.mark.parametrize(
    ("changed", "base", "head", "anchor"),
    [
        # the PR adds an unwrap to `cleanup`, which `Drop for X` in untouched a.rs calls
        ("src/b.rs", REACHED_BASE["src/b.rs"], UNWRAPPING, ("src/b.rs", 4)),
        # the PR makes `Drop for X` call `cleanup`, whose unwrap in untouched b.rs was there
        ("src/a.rs", NOT_CALLING, REACHED_BASE["src/a.rs"], ("src/a.rs", 9)),
    ],
    ids=["touched-callee", "touched-drop"],
)
async def test_a_drop_reaching_across_files_is_commented_where_the_pr_touched_with_its_chain(
    fake_github: FakeGitHub, changed: str, base: str, head: str, anchor: tuple[str, int]
) -> None:
    seed_pull(fake_github, [pull_file(changed, base, head)])
    untouched = {"src/b.rs": UNWRAPPING} | {
        p: t for p, t in REACHED_BASE.items() if p not in (changed, "src/b.rs")
    }
    fake_github.set_files(OWNER, REPO, HEAD, untouched)
    async with running_app(fake_github) as bot:
        answer = await bot.deliver("pull_request", load_webhook("pull_request.opened"))
        assert answer.status in (200, 202)
        await bot.idle()

    (review,) = fake_github.reviews
    (comment,) = review.comments  # one inline comment: the unwrap-in-production notice is not
    assert (comment.path, comment.line) == anchor
    assert (parse_marker(comment.body) or ("",))[0] == "drop-unwrap"
    assert re.search(
        r"\*\*Call chain:\*\* `Drop for X` → `[\w:]*cleanup` → `unwrap\(\)`", comment.body
    )
    (run,) = fake_github.check_runs
    chained = [a for a in run.annotations if "call chain: Drop for X → " in a["message"]]
    assert [(a["path"], a["start_line"]) for a in chained] == [anchor]
    assert "and 2 other file(s) of their crates" in run.output["summary"]
