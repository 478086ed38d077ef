"""Shared fixtures: the test App's identity, the fake GitHub it talks to, the App itself.

`fake_github` is a real HTTP server on 127.0.0.1; give the App `fake_github.app_env()`
(APP_ID, PRIVATE_KEY, WEBHOOK_SECRET, GITHUB_API_URL) and drive it with the payloads
from `fakegithub.load_webhook`, signed with `sign`. `bot` is that App (`app_harness`) with
`runner` in place of the review, and the example pull request seeded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from app_harness import FAST_RETRY, AppUnderTest, RecordingRunner, running_app, seed_pull
from fakegithub import AppCredentials, FakeGitHub
from redis_harness import fresh, running_redis

from bot.github import GitHubClient


@pytest.fixture(scope="session")
def app_credentials() -> AppCredentials:
    """One RSA key pair per session: generating keys is the slow part."""
    return AppCredentials.generate()


@pytest.fixture
async def fake_github(app_credentials: AppCredentials) -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub(app_credentials) as fake:
        yield fake
    assert not fake.internal_errors, "the fake GitHub crashed:\n" + "\n".join(fake.internal_errors)


@pytest.fixture
def runner() -> RecordingRunner:
    """Stands in for the review: records the jobs the App queues."""
    return RecordingRunner()


@pytest.fixture
async def bot(fake_github: FakeGitHub, runner: RecordingRunner) -> AsyncIterator[AppUnderTest]:
    seed_pull(fake_github)
    async with running_app(fake_github, runner) as app:
        yield app


@pytest.fixture
async def gh(fake_github: FakeGitHub) -> AsyncIterator[GitHubClient]:
    """An installation client straight at the fake, for calling `run_review` directly."""
    async with aiohttp.ClientSession() as session:
        yield GitHubClient(
            session,
            oauth_token=fake_github.issue_token(1),
            base_url=fake_github.url,
            retry=FAST_RETRY,
        )


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `redis-server` on a free loopback port for this test process (scripts/test.sh
    installs it); its URL. Missing, the tests that need it fail: they never skip."""
    with running_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
async def redis_url(redis_server: str) -> AsyncIterator[str]:
    """`redis_server`, emptied for each test."""
    yield await fresh(redis_server)
