"""The GitHub client on its own against the fake: what it repeats, what it never repeats
blindly, and how long it keeps trying."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import gidgethub
import pytest
from app_harness import NUMBER, OWNER, REPO, seed_pull
from fakegithub import FakeGitHub

from bot.github import GitHubClient, OutcomeUnknown, RetryPolicy, not_repeatable, repeatable

COMMENTS = "/repos/{owner}/{repo}/issues/{number}/comments"
WHERE = {"owner": OWNER, "repo": REPO, "number": NUMBER}


@pytest.fixture
async def client(fake_github: FakeGitHub) -> AsyncIterator[GitHubClient]:
    seed_pull(fake_github)
    policy = RetryPolicy(attempts=4, backoff=0.01, max_backoff=0.02, timeout=0.5)
    async with aiohttp.ClientSession() as session:
        yield GitHubClient(
            session, oauth_token=fake_github.issue_token(), base_url=fake_github.url, retry=policy
        )


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/repos/o/r/pulls/1", True),
        ("PATCH", "/repos/o/r/check-runs/5", True),
        ("POST", "/app/installations/1/access_tokens", True),
        ("POST", "/graphql", True),
        ("POST", "/repos/o/r/issues/comments/9/reactions", True),
        ("POST", "/repos/o/r/check-runs", False),
        ("POST", "/repos/o/r/pulls/1/reviews", False),
        ("POST", "/repos/o/r/issues/1/comments", False),
    ],
)
def test_which_calls_may_be_sent_twice(method: str, path: str, expected: bool) -> None:
    assert repeatable(method, "https://api.github.com" + path) is expected
    with not_repeatable():
        assert repeatable(method, "https://api.github.com" + path) is (method == "GET")


@pytest.mark.parametrize(
    "fault",
    [{"status": 502}, {"drop": True}, {"status": 200, "delay": 1.0}],
    ids=["502 after applying", "dropped after applying", "slow past the timeout"],
)
async def test_a_write_whose_answer_is_lost_is_not_sent_again(
    client: GitHubClient, fake_github: FakeGitHub, fault: dict[str, object]
) -> None:
    fake_github.fail_next("POST", "/repos/{o}/{r}/issues/{n}/comments", applied=True, **fault)
    with pytest.raises(OutcomeUnknown):
        await client.post(COMMENTS, WHERE, data={"body": "once"})
    assert len(fake_github.calls("POST", "/repos/{o}/{r}/issues/{n}/comments")) == 1
    comments = fake_github.repository(OWNER, REPO).issue_comments.values()  # type: ignore[union-attr]
    assert [c.body for c in comments] == ["once"]


async def test_a_read_is_retried_through_drops_and_timeouts(
    client: GitHubClient, fake_github: FakeGitHub
) -> None:
    fake_github.fail_next("GET", "/repos/{o}/{r}/pulls/{n}", drop=True)
    fake_github.fail_next("GET", "/repos/{o}/{r}/pulls/{n}", status=200, delay=1.0)
    pull = await client.getitem("/repos/{owner}/{repo}/pulls/{number}", WHERE)
    assert pull["number"] == NUMBER
    assert len(fake_github.calls("GET", "/repos/{o}/{r}/pulls/{n}")) == 3


async def test_retries_stop_at_the_deadline(fake_github: FakeGitHub) -> None:
    seed_pull(fake_github)
    policy = RetryPolicy(attempts=1000, backoff=0.05, max_backoff=0.05, deadline=0.5)
    fake_github.fail_next("GET", "/repos/{o}/{r}/pulls/{n}", 503, times=10_000)
    async with aiohttp.ClientSession() as session:
        client = GitHubClient(
            session, oauth_token=fake_github.issue_token(), base_url=fake_github.url, retry=policy
        )
        started = time.monotonic()
        with pytest.raises(gidgethub.GitHubBroken):
            await client.getitem("/repos/{owner}/{repo}/pulls/{number}", WHERE)
    assert time.monotonic() - started < 2.0
    assert 2 <= len(fake_github.calls("GET", "/repos/{o}/{r}/pulls/{n}")) < 50


@pytest.mark.parametrize("rand", [0.0, 0.37, 1.0])
def test_backoff_is_jittered_between_half_and_all_of_the_nominal_wait(rand: float) -> None:
    policy = RetryPolicy(backoff=1.0, max_backoff=30.0)
    assert policy.backoff_for(3, rand) == pytest.approx(4.0 * (0.5 + 0.5 * rand))
    assert policy.backoff_for(10, rand) == pytest.approx(30.0 * (0.5 + 0.5 * rand))
