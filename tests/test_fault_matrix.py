"""The fault matrix: every call a review makes to GitHub, failing every way GitHub fails.

Two pushes to one PR, reviewed by the real App against the fake GitHub: the first review
posts comments, the second (a finding fixed, new ones added, annotations in two batches)
posts a second review and resolves the fixed finding's thread, so every call type of a
review happens. Each case arms one fault on the first matching call and checks the end
state: per head exactly one check run, completed with the verdict a clean run gives, its
annotations not doubled, exactly one review, the fixed thread resolved.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from app_harness import FAST_RETRY, NUMBER, OWNER, REPO, AppUnderTest, running_app
from fakegithub import AppCredentials, FakeGitHub, pull_file
from test_review_app import NEW, OLD, PUSHED, opened, seed, synchronize

HEAD = opened()["pull_request"]["head"]["sha"]


# A try times out after 0.5 s; the slow answer comes after 0.8 s. A rate limit's wait up to
# 0.2 s is slept; a longer one puts the job off.
MATRIX_RETRY = dataclasses.replace(FAST_RETRY, timeout=0.5, max_wait=0.2)
SLOW = 0.8

SECOND = NEW.replace(
    "self.handle.block_on(async {});", "std::thread::sleep(std::time::Duration::from_millis(1));"
)
"""The second push fixes the `block_on` (its thread gets resolved) and blocks instead."""


def pool(count: int) -> str:
    """A new file whose Drop has `count` unwraps: over 50 annotations, so two batches."""
    lines = "".join(f"        self.slots[{i}].take().unwrap();\n" for i in range(count))
    return (
        "pub struct Pool {\n    slots: Vec<Option<u8>>,\n}\n\nimpl Drop for Pool {\n"
        f"    fn drop(&mut self) {{\n{lines}    }}\n}}\n"
    )


CALLS = {
    "token": ("POST", "/app/installations/{id}/access_tokens"),
    "app": ("GET", "/app"),
    "pull": ("GET", "/repos/{o}/{r}/pulls/{n}"),
    "files": ("GET", "/repos/{o}/{r}/pulls/{n}/files"),
    "config": ("GET", "/repos/{o}/{r}/contents/*"),
    "blob": ("GET", "/repos/{o}/{r}/git/blobs/{sha}"),
    "tree": ("GET", "/repos/{o}/{r}/git/trees/*"),
    "create run": ("POST", "/repos/{o}/{r}/check-runs"),
    "update run": ("PATCH", "/repos/{o}/{r}/check-runs/{id}"),
    "list comments": ("GET", "/repos/{o}/{r}/pulls/{n}/comments"),
    "list reviews": ("GET", "/repos/{o}/{r}/pulls/{n}/reviews"),
    "post review": ("POST", "/repos/{o}/{r}/pulls/{n}/reviews"),
    "graphql": ("POST", "/graphql"),
}

FAULTS: dict[str, dict[str, Any]] = {
    "500": {"status": 500},
    "502 after applying": {"status": 502, "applied": True},
    "403 secondary, retry-after": {"status": 403, "headers": {"retry-after": "0.1"}},
    "403 secondary, no retry-after": {"status": 403},
    "429": {"status": 429},
    "429, a wait that puts the job off": {"status": 429, "headers": {"retry-after": "0.3"}},
    "slow past the timeout": {"status": 200, "applied": True, "delay": SLOW},
    "dropped connection": {"drop": True},
    "dropped after applying": {"drop": True, "applied": True},
}


@pytest.fixture
async def bot(fake_github: FakeGitHub) -> AsyncIterator[AppUnderTest]:
    async with running_app(fake_github, retry=MATRIX_RETRY) as app:
        yield app


async def two_pushes(bot: AppUnderTest, fake: FakeGitHub) -> None:
    seed(fake)
    answer = await bot.deliver("pull_request", opened())
    assert answer.status == 202
    await bot.idle()
    files = [pull_file("src/guard.rs", OLD, SECOND), pull_file("src/pool.rs", None, pool(55))]
    fake.set_head(OWNER, REPO, NUMBER, PUSHED, files)
    answer = await bot.deliver("pull_request", synchronize(PUSHED))
    assert answer.status == 202
    await bot.idle()


def end_state(fake: FakeGitHub) -> dict[str, Any]:
    """What the PR shows: check runs (head, status, conclusion, annotations), reviews (head,
    inline comments), resolved threads."""
    return {
        "runs": [(r.head_sha, r.status, r.conclusion, len(r.annotations)) for r in fake.check_runs],
        "reviews": [(r.commit_id, len(r.comments)) for r in fake.reviews],
        "resolved": len(fake.resolved_threads),
    }


_clean: list[dict[str, Any]] = []


async def clean_state(credentials: AppCredentials) -> dict[str, Any]:
    """The end state of the two pushes with no fault, computed once per test process."""
    if not _clean:
        async with FakeGitHub(credentials) as fake, running_app(fake, retry=MATRIX_RETRY) as app:
            await two_pushes(app, fake)
            _clean.append(end_state(fake))
    return _clean[0]


async def test_a_clean_run_makes_exactly_the_calls_of_the_matrix(
    bot: AppUnderTest, fake_github: FakeGitHub
) -> None:
    await two_pushes(bot, fake_github)
    state = end_state(fake_github)
    assert [(head, status) for head, status, *_ in state["runs"]] == [
        (HEAD, "completed"),
        (PUSHED, "completed"),
    ]
    assert [head for head, _ in state["reviews"]] == [HEAD, PUSHED]
    assert state["runs"][1][3] > 50  # two batches of annotations
    assert state["resolved"] == 1  # the fixed `block_on`
    for name, (method, path) in CALLS.items():
        assert fake_github.calls(method, path), f"a clean review makes no {name} call"
    listed = [id(r) for m, p in CALLS.values() for r in fake_github.calls(m, p)]
    unlisted = [(r.method, r.path) for r in fake_github.requests if id(r) not in listed]
    assert unlisted == []


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("call", CALLS)
async def test_every_call_failing_every_way_still_reviews_once(
    bot: AppUnderTest,
    fake_github: FakeGitHub,
    app_credentials: AppCredentials,
    call: str,
    fault: str,
) -> None:
    clean = await clean_state(app_credentials)
    method, path = CALLS[call]
    fake_github.fail_next(method, path, **FAULTS[fault])
    await two_pushes(bot, fake_github)
    assert [r.status for r in fake_github.calls(method, path)][:1] != [200] or fault.startswith(
        "slow"
    )
    assert end_state(fake_github) == clean
