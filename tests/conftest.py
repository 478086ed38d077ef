"""Shared fixtures: the test App's identity and the fake GitHub it talks to.

`fake_github` is a real HTTP server on 127.0.0.1; give the App `fake_github.app_env()`
(APP_ID, PRIVATE_KEY, WEBHOOK_SECRET, GITHUB_API_URL) and drive it with the payloads
from `fakegithub.load_webhook`, signed with `sign`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fakegithub import AppCredentials, FakeGitHub, sign

__all__ = ["app_credentials", "fake_github", "sign"]


@pytest.fixture(scope="session")
def app_credentials() -> AppCredentials:
    """One RSA key pair per session: generating keys is the slow part."""
    return AppCredentials.generate()


@pytest.fixture
async def fake_github(app_credentials: AppCredentials) -> AsyncIterator[FakeGitHub]:
    async with FakeGitHub(app_credentials) as fake:
        yield fake
    assert not fake.internal_errors, "the fake GitHub crashed:\n" + "\n".join(fake.internal_errors)
