"""`/dropsafe` slash commands end to end: a comment on a pull request, as GitHub delivers it
(`pr_comment_payload` derives it from the real issue-comment example), against the fake GitHub.
"""

from __future__ import annotations

import contextlib

import pytest
from app_harness import (
    FAST_RETRY,
    NUMBER,
    OWNER,
    REPO,
    AppUnderTest,
    RecordingRunner,
    delivery_of,
    logged,
    running_app,
    seed_pull,
)
from fakegithub import FakeGitHub, load_webhook, pr_comment_payload
from redis_harness import fresh, queue_idle, running_workers

from bot.commands import ACCEPTED_REACTION, HELP, parse

ROLES = {
    "writer": "write",
    "maintainer": "maintain",
    "admin": "admin",
    "reader": "read",
    "triager": "triage",
}


@pytest.fixture
def bot(bot: AppUnderTest) -> AppUnderTest:
    """conftest's App, with a person of each role on the repository."""
    for login, role in ROLES.items():
        bot.fake.set_role(OWNER, REPO, login, role)
    return bot


async def comment(
    bot: AppUnderTest, body: str, user: str = "writer", user_type: str = "User"
) -> int:
    """Someone comments `body` on the PR; returns the comment's id once the App is done."""
    fake = bot.fake
    made = fake.add_issue_comment(OWNER, REPO, NUMBER, body, user)
    repo = fake.repository(OWNER, REPO)
    assert repo is not None
    answer = await bot.deliver("issue_comment", pr_comment_payload(made, repo, user_type))
    assert 200 <= answer.status < 300
    await bot.idle()
    return made.id


def reactions(fake: FakeGitHub, comment_id: int) -> list[str]:
    return [r.content for r in fake.reactions if r.comment_id == comment_id]


def replies(fake: FakeGitHub) -> list[str]:
    """The App's replies, without the marker each carries (checked here: it names a command
    comment of the PR)."""
    repo = fake.repository(OWNER, REPO)
    assert repo is not None
    texts = []
    for reply in fake.issue_comments:
        text, marker = reply.body.rsplit("\n\n", 1)
        command = int(marker.removeprefix("<!-- dropsafe:v1 reply-to=").removesuffix(" -->"))
        assert repo.issue_comments[command].issue_number == reply.issue_number
        texts.append(text)
    return texts


@pytest.mark.parametrize("user", ["writer", "maintainer", "admin"])
async def test_rescan_by_someone_who_can_push(
    bot: AppUnderTest, runner: RecordingRunner, user: str
) -> None:
    comment_id = await comment(bot, "/dropsafe rescan", user)
    assert reactions(bot.fake, comment_id) == [ACCEPTED_REACTION]
    [job] = runner.jobs
    assert (job.owner, job.repo, job.pull_number, job.full, job.reason) == (
        OWNER,
        REPO,
        NUMBER,
        False,
        "rescan",
    )
    assert job.head_sha is None  # the review reads the PR's current head
    assert replies(bot.fake) == []


async def test_rescan_full(bot: AppUnderTest, runner: RecordingRunner) -> None:
    comment_id = await comment(bot, "/dropsafe rescan full\n\nplease, the whole files")
    assert reactions(bot.fake, comment_id) == [ACCEPTED_REACTION]
    assert [(job.full, job.reason) for job in runner.jobs] == [(True, "rescan full")]


@pytest.mark.parametrize("user", ["reader", "triager", "stranger"])
async def test_rescan_is_refused_without_write_access(
    bot: AppUnderTest, runner: RecordingRunner, user: str
) -> None:
    comment_id = await comment(bot, "/dropsafe rescan", user)
    assert runner.jobs == []
    assert reactions(bot.fake, comment_id) == []
    [reply] = replies(bot.fake)
    assert reply.startswith(f"@{user} ")
    assert "write access" in reply
    # The permission endpoint decided, not the payload's author_association.
    assert bot.fake.calls("GET", f"/repos/{OWNER}/{REPO}/collaborators/{user}/permission")


async def test_comments_from_bots_are_ignored(bot: AppUnderTest, runner: RecordingRunner) -> None:
    await comment(bot, "/dropsafe rescan", "dropsafe[bot]", user_type="Bot")
    await comment(bot, "/dropsafe help", "other-app[bot]", user_type="Bot")
    assert runner.jobs == []
    assert replies(bot.fake) == []
    assert bot.fake.reactions == []


@pytest.mark.parametrize("body", ["/dropsafe help", "/dropsafe", "  /DropSafe Help  "])
async def test_help(bot: AppUnderTest, runner: RecordingRunner, body: str) -> None:
    await comment(bot, body, "reader")  # anyone may ask for help
    assert replies(bot.fake) == [HELP]
    assert runner.jobs == []


async def test_an_unknown_subcommand_answers_with_the_help(
    bot: AppUnderTest, runner: RecordingRunner
) -> None:
    await comment(bot, "/dropsafe rescna")
    [reply] = replies(bot.fake)
    assert reply.startswith("Unknown command `rescna`.")
    assert reply.endswith(HELP)
    assert runner.jobs == []


@pytest.mark.parametrize("body", ["LGTM", "please run /dropsafe rescan", "/dropsafer rescan"])
async def test_other_comments_are_left_alone(
    bot: AppUnderTest, runner: RecordingRunner, body: str
) -> None:
    await comment(bot, body)
    assert runner.jobs == []
    assert replies(bot.fake) == []
    assert bot.fake.reactions == []


async def test_a_comment_on_an_issue_is_ignored(bot: AppUnderTest, runner: RecordingRunner) -> None:
    payload = load_webhook("issue_comment.created")  # the real example: issue #1, not a PR
    payload["comment"]["body"] = "/dropsafe rescan"
    await bot.deliver("issue_comment", payload)
    await bot.idle()
    assert runner.jobs == []
    assert bot.fake.calls(path="/repos/*") == []


async def test_a_rescan_survives_a_server_error_and_a_rate_limit(
    bot: AppUnderTest, runner: RecordingRunner
) -> None:
    bot.fake.fail_next(
        "GET",
        "/repos/{owner}/{repo}/collaborators/{user}/permission",
        status=403,
        headers={"retry-after": "0.1"},
    )
    bot.fake.fail_next("POST", "/repos/{owner}/{repo}/issues/comments/{id}/reactions", status=500)
    comment_id = await comment(bot, "/dropsafe rescan")
    assert reactions(bot.fake, comment_id) == [ACCEPTED_REACTION]  # posted once
    assert [r.status for r in bot.fake.calls("POST", "/repos/*/reactions")] == [500, 201]
    assert len(runner.jobs) == 1


async def test_a_rescan_runs_the_real_review(fake_github: FakeGitHub) -> None:
    seed_pull(fake_github)
    fake_github.set_role(OWNER, REPO, "writer", "write")
    recording = RecordingRunner(real=True)
    async with running_app(fake_github, recording) as bot:
        await comment(bot, "/dropsafe rescan full")
    assert [job.full for job in recording.jobs] == [True]
    [run] = fake_github.check_runs
    assert run.status == "completed"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("/dropsafe rescan", ["rescan"]),
        ("/dropsafe   rescan   FULL\nthanks", ["rescan", "full"]),
        ("/dropsafe", []),
        ("\n  /dropsafe help", ["help"]),
        ("/dropsafe-ish", None),
        ("thanks\n/dropsafe rescan", None),  # a command is the comment's first line
        ("", None),
    ],
)
def test_parse(body: str, words: list[str] | None) -> None:
    assert parse(body) == words


async def test_a_rescan_is_queued_even_when_the_reaction_is_refused(
    bot: AppUnderTest, runner: RecordingRunner, caplog: pytest.LogCaptureFixture
) -> None:
    bot.fake.fail_next(
        "POST", "*/reactions", 403, body={"message": "Resource not accessible by integration"}
    )
    await comment(bot, "/dropsafe rescan")
    assert [job.reason for job in runner.jobs] == ["rescan"]
    [warning] = logged(caplog, "could not react to the command")
    assert "permission" in str(getattr(warning, "reason", ""))
    assert delivery_of(warning)


async def test_a_rate_limited_permission_check_refuses_nobody(
    bot: AppUnderTest, runner: RecordingRunner
) -> None:
    bot.fake.fail_next(
        "GET",
        "*/permission",
        403,
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "9999999999"},
    )
    await comment(bot, "/dropsafe rescan")
    assert runner.jobs == [] and replies(bot.fake) == []


@pytest.mark.parametrize("queue", ["in-process", "redis"])
@pytest.mark.parametrize(
    ("body", "user", "starts"),
    [("/dropsafe help", "reader", "**dropsafe**"), ("/dropsafe rescan", "reader", "@reader")],
    ids=["help", "refused"],
)
async def test_a_reply_is_posted_once_when_its_handling_runs_twice(
    fake_github: FakeGitHub, redis_server: str, queue: str, body: str, user: str, starts: str
) -> None:
    """GitHub applies the reply but its answer is lost (a 502), and the look for the reply
    fails too, so handling the delivery fails and runs again: GitHub's redelivery (same
    delivery id) in `serve` alone, saq's retry of the event job with Redis. The reply is
    looked for before it is posted: one reply."""
    seed_pull(fake_github)
    fake_github.set_role(OWNER, REPO, user, "read")
    comments = "/repos/{o}/{r}/issues/{n}/comments"
    fake_github.fail_next("POST", comments, 502, applied=True)
    fake_github.fail_next("GET", comments, 500, times=FAST_RETRY.attempts)
    made = fake_github.add_issue_comment(OWNER, REPO, NUMBER, body, user)
    repo = fake_github.repository(OWNER, REPO)
    assert repo is not None
    payload = pr_comment_payload(made, repo)
    redis_url = await fresh(redis_server) if queue == "redis" else None
    async with contextlib.AsyncExitStack() as stack:
        bot = await stack.enter_async_context(running_app(fake_github, redis_url=redis_url))
        assert (await bot.deliver("issue_comment", payload, delivery_id="c-1")).status == 202
        if redis_url:
            await stack.enter_async_context(running_workers(fake_github, redis_url))
            await queue_idle(redis_url)
        else:
            await bot.idle()
            again = await bot.deliver("issue_comment", payload, delivery_id="c-1")
            assert again.status == 202  # the first handling failed: not skipped as handled
            await bot.idle()
    [reply] = replies(fake_github)
    assert reply.startswith(starts)
    assert [r.status for r in fake_github.calls("POST", comments)] == [502]
    assert [r.status for r in fake_github.calls("GET", comments)][-1] == 200  # looked again


async def test_the_reaction_is_added_once_when_its_answer_is_lost(
    bot: AppUnderTest, runner: RecordingRunner
) -> None:
    """Reacting is safe to repeat: GitHub answers 200 with the reaction the App already added."""
    bot.fake.fail_next("POST", "*/reactions", 502, applied=True)
    comment_id = await comment(bot, "/dropsafe rescan")
    assert reactions(bot.fake, comment_id) == [ACCEPTED_REACTION]
    assert [r.status for r in bot.fake.calls("POST", "*/reactions")] == [502, 200]
    assert len(runner.jobs) == 1
