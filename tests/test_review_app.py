"""One review end to end: the App server, signed real payloads, the fake GitHub.

The fake validates every request against GitHub's REST description and rejects what
GitHub rejects (a comment outside the diff, more than 50 annotations), so a passing
test means GitHub would have accepted the same requests.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest
from app_harness import NUMBER, OWNER, REPO, AppUnderTest, running_app, seed_pull
from fakegithub import FakeGitHub, PullFile, ReviewComment, load_webhook, pull_file

from bot.github import GitHubClient
from bot.jobs import MemoryTrack, ReviewJob
from bot.review import run_review
from bot.review.comments import COMMENT_CAP, parse_marker, parse_overflow

HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
BASE = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
PUSHED = "1" * 40
OLD = "pub struct Guard;\n"
NEW = """\
pub struct Guard {
    handle: tokio::runtime::Handle,
    file: Option<std::fs::File>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.handle.block_on(async {});
        self.file.flush().unwrap();
    }
}
"""
FIXED = NEW.replace("        self.handle.block_on(async {});\n", "").replace(
    "self.file.flush().unwrap();", "let _ = self.file.flush();"
)


def opened() -> dict[str, Any]:
    return load_webhook("pull_request.opened")


def synchronize(head: str) -> dict[str, Any]:
    """The real synchronize payload, moved to the head the test pushed."""
    payload = load_webhook("pull_request.synchronize")
    payload["pull_request"]["head"]["sha"] = payload["after"] = head
    return payload


def seed(fake: FakeGitHub, files: list[PullFile] | None = None) -> None:
    """The example PR, changing `files` (default: src/guard.rs from OLD to NEW)."""
    seed_pull(fake, [pull_file("src/guard.rs", OLD, NEW)] if files is None else files)


@pytest.fixture
async def bot(fake_github: FakeGitHub) -> AsyncIterator[AppUnderTest]:
    """The App with the real review and nothing seeded (each test seeds its own PR)."""
    async with running_app(fake_github) as app:
        yield app


async def deliver(bot: AppUnderTest, event: str, payload: dict[str, Any]) -> None:
    answer = await bot.deliver(event, payload)
    assert answer.status in (200, 202), answer
    await bot.idle()


def rejected(fake: FakeGitHub) -> list[tuple[str, str, int | None]]:
    """Requests the fake refused (4xx other than the 404 of a missing config file)."""
    return [
        (r.method, r.path, r.status)
        for r in fake.requests
        if r.status is not None and r.status >= 400 and not r.path.endswith("dropsafe.toml")
    ]


def our_comments(fake: FakeGitHub) -> list[ReviewComment]:
    return [c for c in fake.pull(OWNER, REPO, NUMBER).review_comments if parse_marker(c.body)]


async def test_opened_creates_check_run_then_review_with_inline_comments(
    bot: AppUnderTest, fake_github: FakeGitHub
) -> None:
    seed(fake_github)
    await deliver(bot, "pull_request", opened())

    created = fake_github.calls("POST", "/repos/{o}/{r}/check-runs")
    assert [c.json["status"] for c in created] == ["in_progress"]
    assert created[0].json["head_sha"] == HEAD and created[0].json["name"] == "dropsafe"
    (run,) = fake_github.check_runs
    assert run.status == "completed" and run.conclusion == "failure"
    assert {a["start_line"] for a in run.annotations} == {6, 8, 9}
    summary = run.output["summary"]
    assert "| `drop-block-on` | error | 1 |" in summary
    assert "impl Drop for Guard" in summary and "⚠️" in summary

    (review,) = fake_github.reviews
    assert review.event == "COMMENT" and review.commit_id == HEAD
    # drop-untested is a notice: under the default `comment_on = "warning"`, annotation only
    assert sorted(c.line for c in review.comments) == [8, 9]  # type: ignore[type-var]
    rules = {parse_marker(c.body)[0] for c in review.comments}  # type: ignore[index]
    assert rules == {"drop-block-on", "drop-unwrap"}
    assert '- 1 below `comment_on = "warning"`: annotations only' in summary
    assert all(c.user == fake_github.bot_login for c in review.comments)
    assert rejected(fake_github) == []


async def test_push_that_only_moves_findings_posts_nothing_new(
    bot: AppUnderTest, fake_github: FakeGitHub
) -> None:
    seed(fake_github)
    await deliver(bot, "pull_request", opened())
    moved = "// Guard owns a runtime handle.\n\n" + NEW
    fake_github.set_head(OWNER, REPO, NUMBER, PUSHED, [pull_file("src/guard.rs", OLD, moved)])
    await deliver(bot, "pull_request", synchronize(PUSHED))

    assert [r.head_sha for r in fake_github.check_runs] == [HEAD, PUSHED]
    assert {a["start_line"] for a in fake_github.check_runs[1].annotations} == {8, 10, 11}
    assert len(fake_github.reviews) == 1
    assert fake_github.resolved_threads == []
    assert fake_github.calls("POST", "/graphql") == []  # no finding gone: threads not listed
    summary = fake_github.check_runs[1].output["summary"]
    assert "2 already reported" in summary and "1 below `comment_on" in summary
    assert rejected(fake_github) == []


async def test_fixed_findings_resolve_our_threads_unless_a_person_replied(
    bot: AppUnderTest, fake_github: FakeGitHub
) -> None:
    seed(fake_github)
    # every finding inline, so the notice (drop-untested, unfixed below) has a thread too
    fake_github.set_content(OWNER, REPO, ".github/dropsafe.toml", 'comment_on = "notice"\n')
    await deliver(bot, "pull_request", opened())
    threads = {
        parse_marker(t.comments[0].body)[0]: t  # type: ignore[index]
        for t in fake_github.threads(OWNER, REPO, NUMBER)
    }
    discussed = threads["drop-unwrap"]
    reply = ReviewComment(
        fake_github.next_id(),
        discussed.path,
        "This one is on purpose.",
        "octocat",
        HEAD,
        line=discussed.line,
        side="RIGHT",
        in_reply_to_id=discussed.comments[0].id,
    )
    discussed.comments.append(reply)
    fake_github.pull(OWNER, REPO, NUMBER).review_comments.append(reply)

    fake_github.set_head(OWNER, REPO, NUMBER, PUSHED, [pull_file("src/guard.rs", OLD, FIXED)])
    await deliver(bot, "pull_request", synchronize(PUSHED))

    assert fake_github.resolved_threads == [threads["drop-block-on"].id]
    assert not threads["drop-untested"].resolved and not discussed.resolved
    assert len(fake_github.reviews) == 1  # nothing new to say
    assert fake_github.check_runs[1].conclusion == "success"
    assert reply.body == "This one is on purpose."  # never edited


def many_unwraps(count: int) -> str:
    lines = "".join(f"        self.slots[{i}].flush().unwrap();\n" for i in range(count))
    return (
        f"pub struct Pool {{\n    slots: Vec<Option<u8>>,\n}}\n\nimpl Drop for Pool {{\n"
        f"    fn drop(&mut self) {{\n{lines}    }}\n}}\n"
    )


async def test_120_findings_batch_annotations_cap_comments_and_list_the_rest(
    bot: AppUnderTest, fake_github: FakeGitHub
) -> None:
    seed(fake_github, [pull_file("src/pool.rs", OLD, many_unwraps(120))])
    await deliver(bot, "pull_request", opened())

    (run,) = fake_github.check_runs
    total = len(run.annotations)
    assert total >= 120
    patches = fake_github.calls("PATCH", "/repos/{o}/{r}/check-runs/{id}")
    sizes = [len(p.json["output"].get("annotations", [])) for p in patches]
    assert len(patches) == math.ceil(total / 50) and max(sizes) == 50 and sum(sizes) == total
    assert patches[-1].json["conclusion"] == "failure"

    (review,) = fake_github.reviews
    assert len(review.comments) == COMMENT_CAP
    inline = total - 1  # all but drop-untested, a notice: annotation only
    overflow = inline - COMMENT_CAP
    assert f"{overflow} more over the limit" in review.body
    assert len(parse_overflow(review.body)) == overflow
    assert f"{overflow} over the cap of {COMMENT_CAP}" in run.output["summary"]
    assert rejected(fake_github) == []

    # The same head again ("Re-run all checks"): everything was reported, so no second review.
    rerun = load_webhook("check_suite.rerequested")
    rerun["installation"]["id"] = opened()["installation"]["id"]
    await deliver(bot, "check_suite", rerun)
    assert len(fake_github.reviews) == 1
    assert f"{inline} already reported" in fake_github.check_runs[1].output["summary"]


async def test_files_without_patch_are_diffed_locally_and_annotated_only(
    bot: AppUnderTest, fake_github: FakeGitHub
) -> None:
    seed(
        fake_github,
        [
            pull_file(
                "src/guard.rs", OLD, NEW, previous_filename="src/old_guard.rs", with_patch=False
            ),
            pull_file("src/added.rs", None, NEW.replace("Guard", "Added"), with_patch=False),
        ],
    )
    await deliver(bot, "pull_request", opened())

    contents = fake_github.calls("GET", "/repos/{o}/{r}/contents/*")
    assert [(c.path.rsplit("/contents/", 1)[1], c.query.get("ref")) for c in contents] == [
        (".github/dropsafe.toml", "master"),
        ("src/old_guard.rs", BASE),
    ]
    (run,) = fake_github.check_runs
    assert {(a["path"], a["start_line"]) for a in run.annotations} >= {
        ("src/guard.rs", 8),
        ("src/added.rs", 9),
    }
    # GitHub takes no inline comment on a file it shows no diff for.
    assert fake_github.reviews == []
    assert "no diff shown" in run.output["summary"]
    assert rejected(fake_github) == []


async def test_server_error_on_review_post_is_retried_and_posted_once(
    bot: AppUnderTest, fake_github: FakeGitHub
) -> None:
    seed(fake_github)
    fake_github.fail_next("POST", "/repos/{o}/{r}/pulls/{n}/reviews", 500)
    await deliver(bot, "pull_request", opened())

    posts = fake_github.calls("POST", "/repos/{o}/{r}/pulls/{n}/reviews")
    assert [p.status for p in posts] == [500, 200]
    assert len(fake_github.reviews) == 1
    assert fake_github.check_runs[0].conclusion == "failure"


async def test_a_rejected_review_keeps_the_conclusion_and_says_so(
    bot: AppUnderTest, fake_github: FakeGitHub
) -> None:
    seed(fake_github)
    fake_github.fail_next("POST", "/repos/{o}/{r}/pulls/{n}/reviews", 422)
    await deliver(bot, "pull_request", opened())

    (run,) = fake_github.check_runs
    assert run.status == "completed" and run.conclusion == "failure"
    assert "could not be posted" in run.output["summary"]
    assert len(run.annotations) == 3 and fake_github.reviews == []


async def test_broken_config_falls_back_to_defaults_and_says_why(
    bot: AppUnderTest, fake_github: FakeGitHub
) -> None:
    seed(fake_github)
    broken = 'mode = "sideways"\nfail_on = [\n'
    fake_github.set_content(OWNER, REPO, ".github/dropsafe.toml", broken)
    await deliver(bot, "pull_request", opened())

    (run,) = fake_github.check_runs
    assert run.conclusion == "failure"  # defaults: fail on error
    assert "Configuration errors" in run.output["summary"]
    assert len(fake_github.reviews) == 1


async def test_config_excludes_files_turns_rules_off_and_never_fails(
    bot: AppUnderTest, fake_github: FakeGitHub
) -> None:
    bench = pull_file("benches/guard.rs", OLD, NEW.replace("Guard", "Bench"))
    seed(fake_github, [pull_file("src/guard.rs", OLD, NEW), bench])
    fake_github.set_content(
        OWNER,
        REPO,
        ".github/dropsafe.toml",
        'fail_on = "never"\nexclude = ["benches/**"]\n[rules]\ndrop-untested = "off"\n',
    )
    await deliver(bot, "pull_request", opened())

    (run,) = fake_github.check_runs
    assert run.conclusion == "neutral"
    assert {a["path"] for a in run.annotations} == {"src/guard.rs"}
    assert {a["start_line"] for a in run.annotations} == {8, 9}
    assert "1 file(s) excluded" in run.output["summary"]
    assert not fake_github.calls("GET", f"/repos/{{o}}/{{r}}/git/blobs/{bench.sha}")


async def test_bad_input_files_never_crash_the_run(
    bot: AppUnderTest, fake_github: FakeGitHub
) -> None:
    latin1 = b'fn f(x: Option<u8>) -> u8 { let _s = "caf\xe9"; x.unwrap() }\n'
    seed(
        fake_github,
        [
            pull_file("src/latin1.rs", None, latin1),
            pull_file("src/blob.rs", None, b"\x00\x01\x02\x03"),
        ],
    )
    await deliver(bot, "pull_request", opened())

    (run,) = fake_github.check_runs
    assert run.status == "completed" and run.conclusion == "success"
    assert [a["title"] for a in run.annotations] == ["unwrap-in-production (notice)"]
    assert "`src/blob.rs`: binary file" in run.output["summary"]


async def test_failure_inside_the_review_still_completes_the_check_run(
    bot: AppUnderTest, fake_github: FakeGitHub
) -> None:
    seed(fake_github)
    fake_github.fail_next("GET", "/repos/{o}/{r}/git/blobs/{sha}", 404)
    await deliver(bot, "pull_request", opened())

    (run,) = fake_github.check_runs
    assert run.status == "completed" and run.conclusion == "neutral"
    assert "could not finish" in run.output["title"]
    assert "/dropsafe rescan" in run.output["summary"]
    assert fake_github.reviews == []


def job(head: str | None = HEAD) -> ReviewJob:
    return ReviewJob(installation_id=1, owner=OWNER, repo=REPO, pull_number=NUMBER, head_sha=head)


async def review_directly(gh: GitHubClient, fake: FakeGitHub, head: str | None = HEAD) -> None:
    await run_review(
        gh, job(head), app_slug=fake.app_slug, blob_cache={}, graphql_url=fake.graphql_url
    )


async def test_a_job_for_an_old_head_reviews_the_current_head_once(
    gh: GitHubClient, fake_github: FakeGitHub
) -> None:
    """Deliveries arrive in any order: a late one for an older head reviews the PR's current
    head, and a head already reviewed is not reviewed again."""
    seed(fake_github)
    track = MemoryTrack({}, job().key)
    for head in (BASE, HEAD, BASE):
        await run_review(
            gh,
            job(head),
            app_slug=fake_github.app_slug,
            blob_cache={},
            graphql_url=fake_github.graphql_url,
            track=track,
        )
    assert [(r.head_sha, r.status) for r in fake_github.check_runs] == [(HEAD, "completed")]
    assert len(fake_github.reviews) == 1


async def test_a_closed_pr_is_not_reviewed(gh: GitHubClient, fake_github: FakeGitHub) -> None:
    seed(fake_github)
    fake_github.pull(OWNER, REPO, NUMBER).state = "closed"
    await review_directly(gh, fake_github)
    assert fake_github.check_runs == [] and fake_github.reviews == []


async def test_no_head_given_reviews_the_current_head(
    gh: GitHubClient, fake_github: FakeGitHub
) -> None:
    seed(fake_github)
    await review_directly(gh, fake_github, head=None)
    assert [r.head_sha for r in fake_github.check_runs] == [HEAD]
    assert len(fake_github.reviews) == 1


@pytest.mark.parametrize("moment", ["/check-runs", "/git/blobs/"])
async def test_a_superseded_run_completes_its_check_run_as_cancelled(
    gh: GitHubClient, fake_github: FakeGitHub, moment: str
) -> None:
    """Cancelled while GitHub creates the check run, or later: either way it is closed."""
    seed(fake_github)
    held = fake_github.hold("*", f"*{moment}*")
    task = asyncio.create_task(review_directly(gh, fake_github))
    await held.arrived.wait()  # GitHub has the request and has not answered yet
    task.cancel()
    held.release()
    with pytest.raises(asyncio.CancelledError):
        await task
    (run,) = fake_github.check_runs
    assert run.status == "completed" and run.conclusion == "cancelled"
    assert fake_github.reviews == []


@pytest.mark.parametrize(
    ("config", "full", "lines"),
    [
        ("", False, {8}),  # added: drop-untested anchors on the impl's first touched line
        ('mode = "diff_context"\n', False, {6, 8, 9}),  # the unchanged unwrap is in the hunk
        ("", True, {6, 8, 9}),  # `/dropsafe rescan full`: the whole file
    ],
)
async def test_scope_follows_config_mode_and_full_rescan(
    gh: GitHubClient, fake_github: FakeGitHub, config: str, full: bool, lines: set[int]
) -> None:
    base = NEW.replace("        self.handle.block_on(async {});\n", "")
    seed(fake_github, [pull_file("src/guard.rs", base, NEW)])
    if config:
        fake_github.set_content(OWNER, REPO, ".github/dropsafe.toml", config)
    scoped = ReviewJob(
        installation_id=1, owner=OWNER, repo=REPO, pull_number=NUMBER, head_sha=HEAD, full=full
    )
    await run_review(
        gh,
        scoped,
        app_slug=fake_github.app_slug,
        blob_cache={},
        graphql_url=fake_github.graphql_url,
    )
    (run,) = fake_github.check_runs
    assert {a["start_line"] for a in run.annotations} == lines
    assert f"mode `{'file' if full else config[8:-2] or 'added'}`" in run.output["summary"]
