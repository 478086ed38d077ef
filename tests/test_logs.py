"""Log lines as `dropsafe serve` writes them: JSON lines that name the job, no secret ever.

The App runs a real review against the fake GitHub (a server error makes the client log a
retry from inside the job); every line the `bot` loggers write goes through the handler
`dropsafe serve` installs (`bot.logs.handler`), in both formats.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator

import pytest
from app_harness import NUMBER, OWNER, REPO, running_app, seed_pull
from fakegithub import FakeGitHub, pr_comment_payload
from redis_harness import running_workers
from test_review_app import opened, seed

from bot.logs import FORMATS, MASK, handler, mask


@pytest.fixture
def lines() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """What the `bot` loggers write, as JSON lines and as text."""
    as_json, as_text = io.StringIO(), io.StringIO()
    logger = logging.getLogger("bot")
    handlers = [handler("json", as_json), handler("text", as_text)]
    for one in handlers:
        logger.addHandler(one)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    yield as_json, as_text
    logger.setLevel(level)
    for one in handlers:
        logger.removeHandler(one)


async def reviewed_with_a_retry(fake: FakeGitHub) -> None:
    seed(fake)
    fake.fail_next("GET", "/repos/{o}/{r}/git/blobs/{sha}", 502)
    async with running_app(fake) as bot:
        answer = await bot.deliver("pull_request", opened(), delivery_id="json-1")
        assert answer.status == 202
        await bot.idle()
    assert fake.check_runs[0].status == "completed"


async def test_json_lines_name_the_delivery_repository_and_pull_request(
    fake_github: FakeGitHub, lines: tuple[io.StringIO, io.StringIO]
) -> None:
    await reviewed_with_a_retry(fake_github)
    records = [json.loads(line) for line in lines[0].getvalue().splitlines()]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    [retry] = [r for r in records if r["message"] == "github request failed, retrying"]
    assert (retry["delivery_id"], retry["repository"], retry["pull_number"]) == (
        "json-1",
        f"{OWNER}/{REPO}",
        NUMBER,
    )
    assert retry["status"] == 502 and retry["level"] == "WARNING"
    job_lines = [r for r in records if r.get("delivery_id") == "json-1"]
    assert len(job_lines) >= 3


async def test_no_key_token_or_header_reaches_the_log(
    fake_github: FakeGitHub, lines: tuple[io.StringIO, io.StringIO]
) -> None:
    await reviewed_with_a_retry(fake_github)
    tokens = [r.response["token"] for r in fake_github.calls("POST", "/app/installations/*")]
    jwts = [
        r.headers["authorization"].split()[1]
        for r in fake_github.requests
        if r.headers.get("authorization", "").lower().startswith("bearer")
    ]
    assert tokens and jwts
    key_body = fake_github.credentials.private_key.splitlines()[1]
    # Someone logs carelessly: a token in the message, credentials and headers as fields.
    logging.getLogger("bot.example").warning(
        "calling GitHub with token %s",
        tokens[0],
        extra={
            "headers": {"Authorization": f"token {tokens[0]}"},
            "installation_token": tokens[0],
            "private_key": fake_github.credentials.private_key,
            "detail": f"Authorization: Bearer {jwts[0]}; key {fake_github.credentials.private_key}",
        },
    )
    for written in (lines[0].getvalue(), lines[1].getvalue()):
        assert "calling GitHub with token " + MASK in written
        for secret in (*tokens, *jwts, key_body, fake_github.credentials.webhook_secret):
            assert secret not in written
        assert "x-hub-signature" not in written.lower()  # no request's headers
        for field in ("headers", "installation_token", "private_key"):
            assert f'"{field}"' not in written and f"{field}=" not in written


def test_an_unknown_log_format_stops_serve_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("APP_ID", "PRIVATE_KEY")}
    done = subprocess.run(
        [sys.executable, "-c", "from bot.server import run; run()"],
        env={**env, "LOG_FORMAT": "yaml"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert done.stderr.strip() == (
        "dropsafe: bad setting: LOG_FORMAT must be one of text, json, not 'yaml'"
    )


@pytest.mark.parametrize("log_format", FORMATS)
async def test_a_failing_job_on_redis_logs_neither_its_payload_nor_a_token(
    fake_github: FakeGitHub, redis_url: str, log_format: str
) -> None:
    """saq logs a job that fails with its whole record (every argument): the delivery's
    payload stays out of it, and so do the App's credentials, whatever the logger."""
    seed_pull(fake_github)
    private = secrets.token_hex(12)  # on the comment's second line: no command reads it
    made = fake_github.add_issue_comment(OWNER, REPO, NUMBER, f"/dropsafe help\n{private}")
    repo = fake_github.repository(OWNER, REPO)
    assert repo is not None
    refused = {"message": "Resource not accessible by integration"}
    fake_github.fail_next("POST", "/repos/{o}/{r}/issues/{n}/comments", 403, 99, body=refused)
    written = io.StringIO()
    root = logging.getLogger()
    level, capture = root.level, handler(log_format, written)
    root.addHandler(capture)
    root.setLevel(logging.INFO)
    try:
        async with running_app(fake_github, redis_url=redis_url) as bot:
            answer = await bot.deliver("issue_comment", pr_comment_payload(made, repo))
            assert answer.status == 202
            async with running_workers(fake_github, redis_url):
                async with asyncio.timeout(60):
                    while "Error processing job" not in written.getvalue():
                        await asyncio.sleep(0.05)
    finally:
        root.removeHandler(capture)
        root.setLevel(level)
    text = written.getvalue()
    assert "Resource not accessible by integration" in text  # the failure, with its traceback
    tokens = [r.response["token"] for r in fake_github.calls("POST", "/app/installations/*")]
    key_body = fake_github.credentials.private_key.splitlines()[1]
    assert tokens
    for secret in (private, *tokens, key_body, fake_github.credentials.webhook_secret):
        assert secret not in text


def test_a_token_in_a_download_url_is_masked() -> None:
    """codeload's archive links carry a token in their query (an aiohttp error quotes it)."""
    url = "https://codeload.github.com/o/r/legacy.tar.gz/abc?token=AABQ3XKZJ7LUFN2W6MNAY&x=1"
    assert mask(f"ClientResponseError: 404, url='{url}'") == (
        f"ClientResponseError: 404, url='{url.split('token=')[0]}token={MASK}&x=1'"
    )
