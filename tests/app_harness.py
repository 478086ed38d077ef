"""The App under test: `make_app` served on 127.0.0.1, driven with signed real payloads.

Shared by the App's end-to-end tests (server, deliveries, commands, reviews); conftest's
`bot` fixture is `running_app` with a `RecordingRunner` and `seed_pull`'s PR. The GitHub
side is the fake in `fakegithub`; nothing here talks to the network beyond 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fakegithub import FakeGitHub, PullFile, delivery_headers, load_webhook, pull_file
from gidgethub.abc import GitHubAPI

from bot.github import RetryPolicy
from bot.jobs import ReviewJob
from bot.server import JOBS, WEBHOOK_PATH, ReviewRunner, make_app
from bot.settings import Settings

# Real rules, test-sized waits: server errors back off 10 ms, 20 ms, ...
FAST_RETRY = RetryPolicy(
    attempts=4,
    backoff=0.01,
    max_backoff=0.05,
    secondary_wait=0.05,
    max_wait=5.0,
    job_backoff=0.05,
    job_attempts=3,
)


OWNER, REPO, NUMBER = "Codertocat", "Hello-World", 2
"""The pull request GitHub's `pull_request` example payloads name."""


def opened_payload(number: int, head: str) -> dict[str, Any]:
    """`pull_request.opened` for PR `number` at commit `head`."""
    payload = load_webhook("pull_request.opened")
    payload["number"] = payload["pull_request"]["number"] = number
    payload["pull_request"]["head"]["sha"] = head
    return payload


def seed_pull(fake: FakeGitHub, files: list[PullFile] | None = None) -> None:
    """That PR as `pull_request.opened` describes it, changing `files` (default: one Rust file
    that adds an `unwrap`)."""
    if files is None:
        files = [pull_file("src/lib.rs", "fn a() {}\n", "fn a() { Some(1).unwrap(); }\n")]
    fake.add_pull_request_from_payload(load_webhook("pull_request.opened"), files=files)


def logged(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    """The records logged with exactly `message`."""
    return [r for r in caplog.records if r.getMessage() == message]


def delivery_of(record: logging.LogRecord) -> object:
    """The delivery a log record names (its `delivery_id` extra field), or None."""
    return getattr(record, "delivery_id", None)


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


@dataclass
class AppUnderTest:
    app: web.Application
    client: TestClient[web.Request, web.Application]
    fake: FakeGitHub

    async def deliver(
        self,
        event: str,
        payload: Any,
        *,
        delivery_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """POST one delivery as GitHub would: raw JSON body, signed with the App's secret."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        sent = delivery_headers(event, body, self.fake.credentials.webhook_secret, delivery_id)
        sent.update(headers or {})
        response = await self.client.post(WEBHOOK_PATH, data=body, headers=sent)
        return Answer(response.status, await response.json())

    async def idle(self) -> None:
        await self.app[JOBS].idle()


@asynccontextmanager
async def running_app(
    fake: FakeGitHub,
    runner: ReviewRunner | None = None,
    *,
    redis_url: str | None = None,
    **options: Any,
) -> AsyncIterator[AppUnderTest]:
    """The App configured from the fake's environment (as `dropsafe serve` reads it), with
    REDIS_URL when given (it then only enqueues: see `redis_harness.running_workers`)."""
    env = {**fake.app_env(), **({"REDIS_URL": redis_url} if redis_url else {})}
    options.setdefault("retry", FAST_RETRY)
    app = make_app(Settings.from_env(env), runner=runner, **options)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield AppUnderTest(app, client, fake)


@dataclass
class RecordingRunner:
    """Records each job; with `real=True` also runs the real review so GitHub sees its effects."""

    real: bool = False
    jobs: list[ReviewJob] = field(default_factory=list)

    async def __call__(self, gh: GitHubAPI, job: ReviewJob, **options: Any) -> None:
        self.jobs.append(job)
        if self.real:
            from bot.review import run_review

            await run_review(gh, job, **options)


@dataclass
class BlockingRunner:
    """Holds every run until `release()`: shows what happens while a review is in flight."""

    started: list[ReviewJob] = field(default_factory=list)
    finished: list[ReviewJob] = field(default_factory=list)
    cancelled: list[ReviewJob] = field(default_factory=list)
    _gate: asyncio.Event = field(default_factory=asyncio.Event)
    _started: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def __call__(self, gh: GitHubAPI, job: ReviewJob, **options: Any) -> None:
        if job.head_sha is not None:  # as the review would: it has read the head it reviews
            await options["track"].started(job.head_sha, None)
        async with self._started:
            self.started.append(job)
            self._started.notify_all()
        try:
            await self._gate.wait()
        except asyncio.CancelledError:
            self.cancelled.append(job)
            raise
        self.finished.append(job)

    async def wait_started(self, count: int) -> None:
        async with self._started:
            await self._started.wait_for(lambda: len(self.started) >= count)

    def release(self) -> None:
        self._gate.set()
