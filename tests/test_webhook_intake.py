"""The webhook request under hostile input: headers before body, bounded reads, no 500.

Anyone can post to the webhook URL. These tests drive the real server over loopback (raw
sockets where the client must misbehave) and check that a request costs little until it has
proven it comes from GitHub, and that no body, however odd, gets a 500.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from app_harness import AppUnderTest, RecordingRunner, running_app
from fakegithub import FakeGitHub, delivery_headers, load_webhook, sign

from bot.server import WEBHOOK_PATH
from bot.webhooks import ReadBudget

BODY = json.dumps(load_webhook("pull_request.opened")).encode()


async def raw_post(bot: AppUnderTest, headers: dict[str, str], body: bytes) -> int:
    """POST over a raw socket, sending the headers and only `body` (possibly less than the
    declared Content-Length): the status the server answers without waiting for the rest."""
    server = bot.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    lines = [f"POST {WEBHOOK_PATH} HTTP/1.1", f"Host: {server.host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout=5)
    writer.close()
    return int(status_line.split()[1])


def signed_headers(bot: AppUnderTest, body: bytes, **changes: str | None) -> dict[str, str]:
    """The headers GitHub would send with `body`, with `changes` (None: header left out)."""
    headers = delivery_headers("pull_request", body, bot.fake.credentials.webhook_secret)
    for name, value in changes.items():
        headers.pop(name, None)
        if value is not None:
            headers[name] = value
    return headers


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"X-Hub-Signature-256": None}, 401),
        ({"X-Hub-Signature-256": "sha1=" + "0" * 40}, 401),
        ({"X-Hub-Signature-256": "0" * 64}, 401),
        ({"X-GitHub-Event": None}, 400),
        ({"X-GitHub-Delivery": None}, 400),
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Length": str(25 * 2**20 + 1)}, 413),
    ],
)
async def test_headers_are_refused_before_the_body_arrives(
    bot: AppUnderTest, changes: dict[str, str | None], status: int
) -> None:
    """The server answers while 24 MB of declared body have not been sent at all."""
    headers = signed_headers(bot, BODY, **{"Content-Length": str(24 * 2**20), **changes})
    assert await raw_post(bot, headers, b"{") == status


async def test_a_sha1_signature_is_refused_even_when_it_is_right(bot: AppUnderTest) -> None:
    secret = bot.fake.credentials.webhook_secret.encode()
    sha1 = "sha1=" + hmac.new(secret, BODY, hashlib.sha1).hexdigest()
    headers = signed_headers(bot, BODY, **{"X-Hub-Signature-256": sha1})
    response = await bot.client.post(WEBHOOK_PATH, data=BODY, headers=headers)
    assert response.status == 401
    assert "sha256=" in (await response.json())["message"]


async def test_a_body_longer_than_declared_is_cut_at_the_cap(bot: AppUnderTest) -> None:
    """Chunked transfer declares no length: the reader stops at the cap, 413."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(26):
            yield b" " * 2**20

    headers = signed_headers(bot, b"")
    response = await bot.client.post(WEBHOOK_PATH, data=chunks(), headers=headers)
    assert response.status == 413


class CountingBudget(ReadBudget):
    """A ReadBudget that remembers how many reads it let in and the most held at once."""

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self.reads = self.held = self.peak = 0

    @asynccontextmanager
    async def reserve(self, size: int) -> AsyncIterator[None]:
        async with super().reserve(size):
            self.reads += 1
            self.held += 1
            self.peak = max(self.peak, self.held)
            try:
                yield
            finally:
                self.held -= 1


async def test_concurrent_big_posts_with_bad_signatures_are_read_a_few_at_a_time(
    fake_github: FakeGitHub,
) -> None:
    """40 posts of 1 MB at once, a budget of 3 MB: every one is read within the budget and
    refused; the budget never let more than 3 bodies in memory together."""
    budget = CountingBudget(3 * 2**20)
    async with running_app(fake_github, RecordingRunner(), read_budget=budget) as bot:
        body = b" " * 2**20
        headers = signed_headers(bot, body, **{"X-Hub-Signature-256": "sha256=" + "0" * 64})
        answers = await asyncio.gather(
            *(bot.client.post(WEBHOOK_PATH, data=body, headers=headers) for _ in range(40))
        )
        assert [a.status for a in answers] == [401] * 40
        assert budget.reads == 40
        assert 1 <= budget.peak <= 3
        assert budget.held == 0


async def test_a_read_waits_for_the_budget_and_small_ones_pass_big_ones() -> None:
    budget = ReadBudget(10)
    order: list[str] = []

    async def read(name: str, size: int, hold: asyncio.Event | None = None) -> None:
        async with budget.reserve(size):
            order.append(name)
            if hold is not None:
                await hold.wait()

    release = asyncio.Event()
    first = asyncio.create_task(read("big", 8, release))
    await asyncio.sleep(0)
    waiting = asyncio.create_task(read("second big", 8))
    small = asyncio.create_task(read("small", 2))
    await asyncio.wait_for(small, timeout=1)
    assert order == ["big", "small"] and not waiting.done()
    release.set()
    await asyncio.wait_for(asyncio.gather(first, waiting), timeout=1)
    assert order == ["big", "small", "second big"]


def nested(depth: int) -> bytes:
    return b'{"action": "opened", "x": ' + b"[" * depth + b"]" * depth + b"}"


ODD_PAYLOADS: list[Any] = [
    nested(100_000),
    b'{"action": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"}",
    {"action": "opened", "installation": [], "repository": "x", "pull_request": 7},
    {"action": "opened", "installation": {"id": "1"}, "pull_request": {"number": 1.5}},
    {"action": ["opened"]},
    {"action": None},
    {"action": "opened", "pull_request": {"number": 10**400}},
    {},
    b"\xef\xbb\xbf{}",
    b"1e999999",
    b'"\\ud800"',
    b"",
]


@pytest.mark.parametrize("event", ["pull_request", "issue_comment", "check_run", "check_suite"])
async def test_no_signed_body_gets_a_500(bot: AppUnderTest, event: str) -> None:
    for payload in ODD_PAYLOADS:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        answer = await bot.client.post(
            WEBHOOK_PATH,
            data=body,
            headers=delivery_headers(event, body, bot.fake.credentials.webhook_secret),
        )
        assert 200 <= answer.status < 500, (payload if len(body) < 200 else body[:60], answer)
    await bot.idle()


async def test_deeply_nested_json_with_a_valid_signature_is_400(bot: AppUnderTest) -> None:
    body = nested(100_000)
    headers = delivery_headers("pull_request", body, bot.fake.credentials.webhook_secret)
    assert headers["X-Hub-Signature-256"] == sign(body, bot.fake.credentials.webhook_secret)
    response = await bot.client.post(WEBHOOK_PATH, data=body, headers=headers)
    assert response.status == 400
    assert "nested" in (await response.json())["message"]
