"""Deliveries the App must survive: signed, but odd in shape, size, encoding or headers.

The signature proves a delivery came from GitHub, not that it has the fields a handler
reads (an older GitHub Enterprise, a hand-made redelivery, a test tool). Each case is
answered 2xx or 4xx with a log line that names the delivery, never a 500, and the server
goes on serving.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from app_harness import NUMBER, OWNER, REPO, AppUnderTest, RecordingRunner, delivery_of, logged
from fakegithub import FakeGitHub, delivery_headers, load_webhook, pr_comment_payload

from bot.server import MAX_PAYLOAD_BYTES, WEBHOOK_PATH

Mutation = Callable[[dict[str, Any]], None]


def payload_for(fake: FakeGitHub, event: str) -> dict[str, Any]:
    """A valid delivery of `event` that the App acts on (derived where GitHub's lacks a PR)."""
    if event == "issue_comment":
        made = fake.add_issue_comment(OWNER, REPO, NUMBER, "/dropsafe help", "octocat")
        repo = fake.repository(OWNER, REPO)
        assert repo is not None
        return pr_comment_payload(made, repo)
    if event == "pull_request":
        return load_webhook("pull_request.opened")
    payload = load_webhook(f"{event}.rerequested")
    payload["installation"]["id"] = 1
    payload[event]["pull_requests"] = copy.deepcopy(
        load_webhook("check_suite.rerequested")["check_suite"]["pull_requests"]
    )
    return payload


def parent(payload: dict[str, Any], path: str) -> tuple[Any, str]:
    """The object holding the dotted `path` (digits index lists), and the last key."""
    *parents, last = path.split(".")
    target: Any = payload
    for name in parents:
        target = target[int(name)] if name.isdigit() else target[name]
    return target, last


def drop(path: str) -> Mutation:
    def mutate(payload: dict[str, Any]) -> None:
        target, last = parent(payload, path)
        del target[last]

    return mutate


def put(path: str, value: Any) -> Mutation:
    def mutate(payload: dict[str, Any]) -> None:
        target, last = parent(payload, path)
        target[last] = value

    return mutate


async def serves_a_good_delivery(bot: AppUnderTest, runner: RecordingRunner) -> None:
    """The server is still up and still queues reviews."""
    runner.jobs.clear()
    answer = await bot.deliver("pull_request", load_webhook("pull_request.opened"))
    await bot.idle()
    assert answer.status == 202
    assert [job.pull_number for job in runner.jobs] == [NUMBER]


@pytest.mark.parametrize(
    ("event", "mutate", "named"),
    [
        ("pull_request", drop("pull_request.head"), "pull_request.head"),
        ("pull_request", put("pull_request.head.sha", 42), "pull_request.head.sha"),
        ("pull_request", put("pull_request", None), "pull_request"),
        ("pull_request", put("pull_request.number", "2"), "pull_request.number"),
        ("pull_request", drop("installation"), "installation"),
        ("pull_request", put("installation.id", "one"), "installation.id"),
        ("pull_request", drop("repository.owner"), "repository.owner"),
        ("pull_request", put("action", ["opened"]), "action"),
        ("issue_comment", drop("comment.user"), "comment.user"),
        ("issue_comment", put("comment.body", None), "comment.body"),
        ("issue_comment", put("issue", []), "issue"),
        (
            "check_suite",
            drop("check_suite.pull_requests.0.number"),
            "check_suite.pull_requests[0].number",
        ),
        ("check_suite", put("check_suite.pull_requests", "none"), "check_suite.pull_requests"),
        ("check_run", drop("check_run"), "check_run"),
        ("check_run", drop("check_run.head_sha"), "check_run.head_sha"),
    ],
)
async def test_a_payload_without_the_fields_a_handler_reads_is_400(
    bot: AppUnderTest,
    runner: RecordingRunner,
    caplog: pytest.LogCaptureFixture,
    event: str,
    mutate: Mutation,
    named: str,
) -> None:
    payload = payload_for(bot.fake, event)
    mutate(payload)
    answer = await bot.deliver(event, payload, delivery_id="odd-1")
    await bot.idle()
    assert answer.status == 400
    assert named in answer.body["message"]
    [refused] = logged(caplog, "delivery refused")
    assert delivery_of(refused) == "odd-1"
    assert logged(caplog, "job failed") == []
    assert runner.jobs == []
    await serves_a_good_delivery(bot, runner)


async def test_a_refused_payload_is_not_remembered_as_handled(
    bot: AppUnderTest, runner: RecordingRunner
) -> None:
    """A fixed redelivery under the same id (GitHub's "Redeliver") is then handled."""
    broken = load_webhook("pull_request.opened")
    del broken["pull_request"]["head"]
    assert (await bot.deliver("pull_request", broken, delivery_id="again")).status == 400
    fixed = await bot.deliver(
        "pull_request", load_webhook("pull_request.opened"), delivery_id="again"
    )
    await bot.idle()
    assert fixed.status == 202 and len(runner.jobs) == 1


async def test_an_action_we_do_not_handle_is_acknowledged(
    bot: AppUnderTest, runner: RecordingRunner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.server")
    payload = load_webhook("pull_request.opened")
    payload["action"] = "labeled"
    answer = await bot.deliver("pull_request", payload, delivery_id="label-1")
    await bot.idle()
    assert (answer.status, answer.body["message"]) == (200, "ignored")
    [ignored] = logged(caplog, "event acknowledged, nothing to do")
    assert delivery_of(ignored) == "label-1"
    assert runner.jobs == [] and bot.fake.requests == []


async def test_a_payload_over_a_megabyte_is_accepted(
    bot: AppUnderTest, runner: RecordingRunner
) -> None:
    # GitHub delivers up to 25 MB; aiohttp's default limit is 1 MB.
    payload = load_webhook("pull_request.opened")
    payload["pull_request"]["body"] = "x" * (3 * 2**20)
    answer = await bot.deliver("pull_request", payload)
    await bot.idle()
    assert answer.status == 202
    assert len(runner.jobs) == 1


async def test_a_body_over_githubs_cap_is_413(bot: AppUnderTest, runner: RecordingRunner) -> None:
    body = b"x" * (MAX_PAYLOAD_BYTES + 1)
    headers = delivery_headers("pull_request", body, bot.fake.credentials.webhook_secret)
    response = await bot.client.post(WEBHOOK_PATH, data=body, headers=headers)
    assert response.status == 413
    await serves_a_good_delivery(bot, runner)


async def test_a_body_that_is_not_utf8_is_400(
    bot: AppUnderTest, runner: RecordingRunner, caplog: pytest.LogCaptureFixture
) -> None:
    body = b'{"action": "opened", "zone": "caf\xe9"}'
    answer = await bot.deliver("pull_request", body, delivery_id="latin-1")
    assert answer.status == 400
    assert "UTF-8" in answer.body["message"]
    [refused] = logged(caplog, "delivery refused")
    assert delivery_of(refused) == "latin-1"
    await serves_a_good_delivery(bot, runner)


async def test_a_form_encoded_delivery_is_handled_like_json(
    bot: AppUnderTest, runner: RecordingRunner
) -> None:
    """A webhook set to `application/x-www-form-urlencoded` sends the JSON as `payload=`."""
    payload = json.dumps(load_webhook("pull_request.opened"))
    body = urlencode({"payload": payload}).encode()
    answer = await bot.deliver(
        "pull_request", body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    await bot.idle()
    assert answer.status == 202
    assert [job.pull_number for job in runner.jobs] == [NUMBER]


@pytest.mark.parametrize(
    ("content_type", "body", "status", "says"),
    [
        ("application/x-www-form-urlencoded", b"other=1", 400, "payload"),
        ("application/x-www-form-urlencoded", b"payload=%7Bnot+json", 400, "not JSON"),
        ("application/x-www-form-urlencoded", b"payload=%ff", 400, "UTF-8"),
        ("text/plain", json.dumps({"action": "opened"}).encode(), 415, "application/json"),
        (None, json.dumps({"action": "opened"}).encode(), 415, "application/json"),
    ],
)
async def test_other_content_types_are_refused_with_a_reason(
    bot: AppUnderTest,
    runner: RecordingRunner,
    content_type: str | None,
    body: bytes,
    status: int,
    says: str,
) -> None:
    headers = delivery_headers("pull_request", body, bot.fake.credentials.webhook_secret)
    del headers["Content-Type"]
    if content_type:
        headers["Content-Type"] = content_type
    response = await bot.client.post(
        WEBHOOK_PATH, data=body, headers=headers, skip_auto_headers=["Content-Type"]
    )
    assert response.status == status
    assert says in (await response.json())["message"]
    await serves_a_good_delivery(bot, runner)


async def test_a_delivery_without_an_id_is_400_and_logged(
    bot: AppUnderTest, runner: RecordingRunner, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps(load_webhook("pull_request.opened")).encode()
    headers = delivery_headers("pull_request", body, bot.fake.credentials.webhook_secret)
    del headers["X-GitHub-Delivery"]
    response = await bot.client.post(WEBHOOK_PATH, data=body, headers=headers)
    assert response.status == 400
    assert "X-GitHub-Delivery" in (await response.json())["message"]
    [refused] = logged(caplog, "delivery refused")
    assert getattr(refused, "event", None) == "pull_request"
    await serves_a_good_delivery(bot, runner)


async def test_a_delivery_whose_handling_failed_is_handled_when_redelivered(
    bot: AppUnderTest, runner: RecordingRunner
) -> None:
    """GitHub down while handling a command (its permission check): the delivery is not
    remembered, so "Redeliver" works."""
    bot.fake.set_role(OWNER, REPO, "writer", "write")
    made = bot.fake.add_issue_comment(OWNER, REPO, NUMBER, "/dropsafe rescan", "writer")
    repo = bot.fake.repository(OWNER, REPO)
    assert repo is not None
    payload = pr_comment_payload(made, repo)
    bot.fake.fail_next("POST", "/app/installations/{id}/access_tokens", status=500, times=4)
    first = await bot.deliver("issue_comment", payload, delivery_id="retry-me")
    await bot.idle()
    assert first.status == 202 and runner.jobs == []
    again = await bot.deliver("issue_comment", payload, delivery_id="retry-me")
    await bot.idle()
    assert again.status == 202 and len(runner.jobs) == 1
