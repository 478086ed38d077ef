"""The App's shell end to end: a real aiohttp server, GitHub's real payloads signed with the
test secret, the fake GitHub behind it. Review content is tested with the pipeline; here,
what reaches the queue, when, how often, and how the client talks to GitHub.
"""

from __future__ import annotations

import copy
import gc
import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from app_harness import (
    FAST_RETRY,
    NUMBER,
    OWNER,
    REPO,
    AppUnderTest,
    BlockingRunner,
    RecordingRunner,
    delivery_of,
    logged,
    running_app,
    seed_pull,
)
from fakegithub import (
    API_VERSION,
    AppCredentials,
    FakeGitHub,
    delivery_headers,
    load_webhook,
    pull_file,
)
from gidgethub import sansio

from bot.github import RetryPolicy
from bot.jobs import ReviewJob
from bot.logs import KeyValueFormatter
from bot.server import JOBS, WEBHOOK_PATH, router
from bot.settings import Settings, SettingsError

HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"


def json_bytes(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def bot_headers(bot: AppUnderTest, event: str, body: bytes) -> dict[str, str]:
    return delivery_headers(event, body, bot.fake.credentials.webhook_secret)


def access_token_calls(fake: FakeGitHub) -> int:
    return len(fake.calls("POST", "/app/installations/{id}/access_tokens"))


# -- endpoint: authentication and acknowledgement -------------------------------------------


async def test_ping_is_answered_without_calling_github(bot: AppUnderTest) -> None:
    answer = await bot.deliver("ping", load_webhook("ping"))
    assert (answer.status, answer.body["message"]) == (200, "pong")
    assert bot.fake.requests == []


async def test_installation_created_is_acknowledged(
    bot: AppUnderTest, runner: RecordingRunner
) -> None:
    answer = await bot.deliver("installation", load_webhook("installation.created"))
    await bot.idle()
    assert answer.status == 200
    assert runner.jobs == []


async def test_healthz(bot: AppUnderTest) -> None:
    response = await bot.client.get("/healthz")
    assert response.status == 200


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, 401),
        ({"X-Hub-Signature-256": None}, 401),
        # The legacy SHA-1 signature alone is not accepted.
        ({"X-Hub-Signature-256": None, "X-Hub-Signature": "sha1=" + "0" * 40}, 401),
        ({"X-GitHub-Event": None}, 400),
        ({"X-GitHub-Delivery": None}, 400),
    ],
)
async def test_bad_deliveries_are_refused(
    bot: AppUnderTest, runner: RecordingRunner, change: dict[str, str | None], status: int
) -> None:
    body = json_bytes(load_webhook("pull_request.opened"))
    headers = bot_headers(bot, "pull_request", body)
    for name, value in change.items():
        headers.pop(name, None)
        if value is not None:
            headers[name] = value
    response = await bot.client.post("/api/github/webhooks", data=body, headers=headers)
    await bot.idle()
    assert response.status == status
    assert runner.jobs == []


async def test_a_signature_for_another_body_is_refused(bot: AppUnderTest) -> None:
    headers = bot_headers(bot, "pull_request", b"{}")
    response = await bot.client.post(
        "/api/github/webhooks",
        headers=headers,
        data=json_bytes(load_webhook("pull_request.opened")),
    )
    assert response.status == 401


@pytest.mark.parametrize("body", [b'{"action": "opened",', b"not json", b"[1, 2]"])
async def test_malformed_json_is_400(bot: AppUnderTest, body: bytes) -> None:
    answer = await bot.deliver("pull_request", body)
    assert answer.status == 400


async def test_an_unknown_event_is_acknowledged_and_ignored(
    bot: AppUnderTest, runner: RecordingRunner
) -> None:
    payload = load_webhook("pull_request.opened")
    answer = await bot.deliver("deployment_status", payload)
    await bot.idle()
    assert 200 <= answer.status < 300
    assert runner.jobs == []
    assert bot.fake.requests == []


async def test_a_redelivery_is_acknowledged_and_skipped(
    bot: AppUnderTest, runner: RecordingRunner
) -> None:
    payload = load_webhook("pull_request.opened")
    first = await bot.deliver("pull_request", payload, delivery_id="guid-1")
    await bot.idle()
    again = await bot.deliver("pull_request", payload, delivery_id="guid-1")
    await bot.idle()
    assert (first.status, again.status) == (202, 200)
    assert [job.delivery_id for job in runner.jobs] == ["guid-1"]


async def test_the_answer_comes_before_the_work(fake_github: FakeGitHub) -> None:
    seed_pull(fake_github)
    blocking = BlockingRunner()
    async with running_app(fake_github, blocking) as bot:
        answer = await bot.deliver("pull_request", load_webhook("pull_request.opened"))
        assert answer.status == 202
        await blocking.wait_started(1)
        assert blocking.finished == []  # answered while the review is still held
        blocking.release()
        await bot.idle()
    assert [job.pull_number for job in blocking.finished] == [NUMBER]


# -- pull_request ---------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["opened", "synchronize", "reopened"])
async def test_pull_request_changes_queue_a_review_of_the_head(
    bot: AppUnderTest, runner: RecordingRunner, action: str
) -> None:
    answer = await bot.deliver(
        "pull_request", load_webhook(f"pull_request.{action}"), delivery_id=f"d-{action}"
    )
    await bot.idle()
    assert answer.status == 202
    assert runner.jobs == [
        ReviewJob(1, OWNER, REPO, NUMBER, HEAD, False, f"pull_request.{action}", f"d-{action}")
    ]


async def test_ready_for_review_queues_a_review(bot: AppUnderTest, runner: RecordingRunner) -> None:
    # Derived: GitHub's examples have no ready_for_review; it is `opened`'s shape.
    payload = load_webhook("pull_request.opened")
    payload["action"] = "ready_for_review"
    await bot.deliver("pull_request", payload)
    await bot.idle()
    assert [job.reason for job in runner.jobs] == ["pull_request.ready_for_review"]


async def test_closed_and_draft_pull_requests_are_skipped(
    bot: AppUnderTest, runner: RecordingRunner
) -> None:
    draft = load_webhook("pull_request.opened")
    draft["pull_request"]["draft"] = True
    closed_push = load_webhook("pull_request.synchronize")
    closed_push["pull_request"]["state"] = "closed"
    for payload in (load_webhook("pull_request.closed"), draft, closed_push):
        answer = await bot.deliver("pull_request", payload)
        assert 200 <= answer.status < 300
    await bot.idle()
    assert runner.jobs == []


async def test_opened_runs_the_real_review(fake_github: FakeGitHub) -> None:
    seed_pull(fake_github)
    recording = RecordingRunner(real=True)
    async with running_app(fake_github, recording) as bot:
        await bot.deliver("pull_request", load_webhook("pull_request.opened"))
        await bot.idle()
    assert len(recording.jobs) == 1
    [run] = fake_github.check_runs
    assert (run.head_sha, run.status) == (HEAD, "completed")
    # The App read its own slug once, as the App (JWT), to know its bot user.
    assert len(fake_github.calls("GET", "/app")) == 1


def push(sha: str) -> dict[str, Any]:
    """A `synchronize` delivery announcing head `sha` (derived from the real example)."""
    payload = load_webhook("pull_request.synchronize")
    payload["after"] = payload["pull_request"]["head"]["sha"] = sha
    return payload


async def test_a_newer_push_supersedes_the_run_in_flight(fake_github: FakeGitHub) -> None:
    seed_pull(fake_github)
    blocking = BlockingRunner()
    async with running_app(fake_github, blocking) as bot:
        await bot.deliver("pull_request", push("a" * 40), delivery_id="push-1")
        await blocking.wait_started(1)
        await bot.deliver("pull_request", push("b" * 40), delivery_id="push-2")
        await blocking.wait_started(2)
        blocking.release()
        await bot.idle()
    assert [job.delivery_id for job in blocking.cancelled] == ["push-1"]
    assert [job.head_sha for job in blocking.finished] == ["b" * 40]


async def test_a_late_delivery_for_an_older_head_does_not_stop_the_current_review(
    fake_github: FakeGitHub,
) -> None:
    seed_pull(
        fake_github,
        [
            pull_file(
                "src/lib.rs",
                None,
                "impl Drop for G { fn drop(&mut self) { self.0.flush().unwrap(); } }\n",
            )
        ],
    )
    held = fake_github.hold("GET", "*/git/blobs/*")
    async with running_app(fake_github, RecordingRunner(real=True)) as bot:
        await bot.deliver("pull_request", load_webhook("pull_request.opened"))
        await held.arrived.wait()  # reviewing HEAD, the PR's current head
        await bot.deliver("pull_request", push("0" * 40), delivery_id="late")
        await bot.app[JOBS].handled()
        held.release()
        await bot.idle()
    [run] = fake_github.check_runs
    assert (run.head_sha, run.status, run.conclusion) == (HEAD, "completed", "failure")
    assert len(fake_github.reviews) == 1  # the late job found HEAD reviewed


async def test_a_second_event_for_the_running_head_is_dropped(fake_github: FakeGitHub) -> None:
    # Every push sends both `synchronize` and `check_suite`: one review, not a restart.
    seed_pull(fake_github)
    suite = load_webhook("check_suite.rerequested")
    suite["installation"]["id"] = 1
    blocking = BlockingRunner()
    async with running_app(fake_github, blocking) as bot:
        await bot.deliver("pull_request", load_webhook("pull_request.synchronize"))
        await blocking.wait_started(1)
        await bot.deliver("check_suite", suite)
        await bot.deliver("pull_request", load_webhook("pull_request.synchronize"))
        await bot.app[JOBS].handled()
        blocking.release()
        await bot.idle()
    assert [job.reason for job in blocking.started] == ["pull_request.synchronize"]
    assert blocking.cancelled == []


async def test_waiting_jobs_for_one_pull_collapse_to_the_newest(fake_github: FakeGitHub) -> None:
    seed_pull(fake_github)
    other = load_webhook("pull_request.opened")
    other["pull_request"]["number"] = 3
    fake_github.add_pull_request_from_payload(other)
    blocking = BlockingRunner()
    # One worker, busy with PR #3: the pushes to PR #2 wait, and only the last one runs.
    async with running_app(fake_github, blocking, workers=1) as bot:
        await bot.deliver("pull_request", other, delivery_id="pr3")
        await blocking.wait_started(1)
        for n in range(3):
            await bot.deliver("pull_request", push(str(n) * 40), delivery_id=f"push-{n}")
        await bot.app[JOBS].handled()
        blocking.release()
        await bot.idle()
    assert [job.delivery_id for job in blocking.finished] == ["pr3", "push-2"]
    assert blocking.cancelled == []


async def test_a_failing_review_does_not_stop_the_worker(
    fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    seed_pull(fake_github)
    ran: list[str] = []

    async def flaky(gh: Any, job: ReviewJob, **_: Any) -> None:
        ran.append(job.delivery_id)
        if job.delivery_id == "boom":
            raise RuntimeError("review crashed")

    async with running_app(fake_github, flaky, workers=1) as bot:
        await bot.deliver("pull_request", load_webhook("pull_request.opened"), delivery_id="boom")
        await bot.idle()
        await bot.deliver("pull_request", load_webhook("pull_request.opened"), delivery_id="ok")
        await bot.idle()
    assert ran == ["boom", "ok"]
    [failure] = logged(caplog, "job failed")
    assert delivery_of(failure) == "boom"
    assert failure.exc_info is not None


# -- check_run and check_suite ----------------------------------------------------------------


async def test_check_suite_rerequested_reviews_its_pull_requests(
    bot: AppUnderTest, runner: RecordingRunner
) -> None:
    payload = load_webhook("check_suite.rerequested")
    payload["installation"]["id"] = 1  # the example's 957387 is not the fake's installation
    await bot.deliver("check_suite", payload)
    await bot.idle()
    assert [(j.pull_number, j.head_sha, j.reason) for j in runner.jobs] == [
        (NUMBER, HEAD, "check_suite.rerequested")
    ]


async def test_check_suite_requested_without_pull_requests_does_nothing(
    bot: AppUnderTest, runner: RecordingRunner
) -> None:
    payload = load_webhook("check_suite.requested")
    assert payload["check_suite"]["pull_requests"] == []
    answer = await bot.deliver("check_suite", payload)
    await bot.idle()
    assert 200 <= answer.status < 300
    assert runner.jobs == []


async def test_check_suite_requested_with_a_pull_request_queues_it(
    bot: AppUnderTest, runner: RecordingRunner
) -> None:
    # Derived: the example suite (a push to master) names no PR; give it the rerequested one's.
    payload = load_webhook("check_suite.requested")
    payload["check_suite"]["pull_requests"] = copy.deepcopy(
        load_webhook("check_suite.rerequested")["check_suite"]["pull_requests"]
    )
    payload["installation"]["id"] = 1
    await bot.deliver("check_suite", payload)
    await bot.idle()
    assert [(j.pull_number, j.head_sha, j.reason) for j in runner.jobs] == [
        (NUMBER, payload["check_suite"]["head_sha"], "check_suite.requested")
    ]


async def test_check_run_rerequested_reviews_the_run_head(fake_github: FakeGitHub) -> None:
    # Derived: the example re-run is on github/hello-world and names no PR; add one.
    payload = load_webhook("check_run.rerequested")
    head = payload["check_run"]["head_sha"]
    owner, name = payload["repository"]["owner"]["login"], payload["repository"]["name"]
    fake_github.add_pull_request(
        owner,
        name,
        7,
        head_sha=head,
        base_sha="f" * 40,
        files=[pull_file("src/guard.rs", None, "pub struct Guard;\n")],
    )
    payload["check_run"]["pull_requests"] = [
        {
            "url": f"https://api.github.com/repos/{owner}/{name}/pulls/7",
            "id": 7,
            "number": 7,
            "head": {"ref": "feature", "sha": head, "repo": {"id": 1, "url": "", "name": name}},
            "base": {"ref": "main", "sha": "f" * 40, "repo": {"id": 1, "url": "", "name": name}},
        }
    ]
    recording = RecordingRunner(real=True)
    async with running_app(fake_github, recording) as bot:
        await bot.deliver("check_run", payload)
        await bot.idle()
    assert [(j.owner, j.repo, j.pull_number, j.head_sha, j.reason) for j in recording.jobs] == [
        (owner, name, 7, head, "check_run.rerequested")
    ]
    assert [run.head_sha for run in fake_github.check_runs] == [head]


async def test_check_run_rerequested_without_pull_requests_does_nothing(
    bot: AppUnderTest, runner: RecordingRunner
) -> None:
    payload = load_webhook("check_run.rerequested")
    payload["installation"]["id"] = 1
    await bot.deliver("check_run", payload)
    await bot.idle()
    assert runner.jobs == []


# -- the GitHub client --------------------------------------------------------------------------


async def test_the_installation_token_is_fetched_once_for_many_deliveries(
    fake_github: FakeGitHub,
) -> None:
    seed_pull(fake_github)
    async with running_app(fake_github, RecordingRunner(real=True)) as bot:
        for action in ("opened", "synchronize", "reopened", "synchronize"):
            await bot.deliver("pull_request", load_webhook(f"pull_request.{action}"))
        await bot.idle()
    assert len(fake_github.check_runs) >= 1
    assert access_token_calls(fake_github) == 1


async def test_a_token_about_to_expire_is_not_reused(app_credentials: AppCredentials) -> None:
    # GitHub's tokens last an hour; one that expires within the refresh margin is fetched anew.
    async with FakeGitHub(app_credentials, token_ttl=120) as fake:
        seed_pull(fake)
        async with running_app(fake, RecordingRunner(real=True)) as bot:
            for _ in range(2):
                await bot.deliver("pull_request", load_webhook("pull_request.opened"))
                await bot.idle()
        assert access_token_calls(fake) >= 2


async def test_routing_a_push_needs_no_token(bot: AppUnderTest, runner: RecordingRunner) -> None:
    """A push only queues a review: GitHub's token endpoint failing cannot lose it (the
    review meets the failure, and is retried as a job)."""
    bot.fake.fail_next("POST", "/app/installations/{id}/access_tokens", status=500, times=100)
    await bot.deliver("pull_request", load_webhook("pull_request.opened"))
    await bot.idle()
    assert access_token_calls(bot.fake) == 0
    assert len(runner.jobs) == 1


async def test_every_request_carries_the_api_version(fake_github: FakeGitHub) -> None:
    seed_pull(fake_github)
    async with running_app(fake_github, RecordingRunner(real=True)) as bot:
        await bot.deliver("pull_request", load_webhook("pull_request.opened"))
        await bot.idle()
    assert len(fake_github.requests) > 3
    assert {r.headers.get("x-github-api-version") for r in fake_github.requests} == {API_VERSION}
    # The fake answers 400 to a request without the header (a 404 for the absent config is fine).
    assert [r.path for r in fake_github.requests if r.status == 400] == []


@pytest.fixture
async def reviewing(fake_github: FakeGitHub) -> AsyncIterator[AppUnderTest]:
    """The App running the real review of the seeded PR."""
    seed_pull(fake_github)
    async with running_app(fake_github, RecordingRunner(real=True)) as bot:
        yield bot


async def test_a_server_error_is_retried_even_for_a_post(reviewing: AppUnderTest) -> None:
    reviewing.fake.fail_next("POST", "/app/installations/{id}/access_tokens", status=502)
    await reviewing.deliver("pull_request", load_webhook("pull_request.opened"))
    await reviewing.idle()
    assert [r.status for r in reviewing.fake.calls("POST", "/app/installations/*")] == [502, 201]
    assert [run.status for run in reviewing.fake.check_runs] == ["completed"]


async def test_a_secondary_rate_limit_waits_for_retry_after(
    reviewing: AppUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    reviewing.fake.fail_next(
        "POST", "/app/installations/{id}/access_tokens", status=403, headers={"retry-after": "0.2"}
    )
    caplog.set_level(logging.WARNING, logger="bot.github")
    await reviewing.deliver("pull_request", load_webhook("pull_request.opened"))
    await reviewing.idle()
    assert [r.status for r in reviewing.fake.calls("POST", "/app/installations/*")] == [403, 201]
    [retry] = logged(caplog, "github request failed, retrying")
    assert (getattr(retry, "status", None), getattr(retry, "retry_in", None)) == (403, 0.2)
    assert [run.status for run in reviewing.fake.check_runs] == ["completed"]


async def test_retries_are_bounded(
    reviewing: AppUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    reviewing.fake.fail_next("POST", "/app/installations/{id}/access_tokens", 500, times=100)
    await reviewing.deliver("pull_request", load_webhook("pull_request.opened"))
    await reviewing.idle()
    # Each of the job's tries gives up after the client's attempts; the last try's report
    # of the failure needs a token too, and gives up the same way.
    tries = FAST_RETRY.job_attempts + 1
    assert access_token_calls(reviewing.fake) == FAST_RETRY.attempts * tries
    assert reviewing.fake.check_runs == []
    assert len(logged(caplog, "review deferred")) == FAST_RETRY.job_attempts - 1
    assert len(logged(caplog, "could not report the failure")) == 1


# -- manifest ---------------------------------------------------------------------------------

MANIFEST = Path(__file__).resolve().parents[1] / "app.yaml"


def test_the_manifest_subscribes_to_what_the_app_handles_with_least_privilege() -> None:
    text = MANIFEST.read_text()
    manifest = yaml.safe_load(text)
    assert "does NOT change an App that is already registered" in text
    assert manifest["hook_attributes"]["url"].endswith(WEBHOOK_PATH)
    handled = {
        "pull_request": "opened",
        "issue_comment": "created",
        "check_run": "rerequested",
        "check_suite": "requested",
    }
    assert set(manifest["default_events"]) == set(handled)
    for event, action in handled.items():
        assert router.fetch(sansio.Event({"action": action}, event=event, delivery_id="x"))
    assert manifest["default_permissions"] == {
        "checks": "write",
        "pull_requests": "write",
        "contents": "read",
        "issues": "write",
        "metadata": "read",
    }


# -- settings ---------------------------------------------------------------------------------


def test_settings_defaults_and_graphql_url_derivation(
    tmp_path: Path, app_credentials: AppCredentials
) -> None:
    key = tmp_path / "app.pem"
    key.write_text(app_credentials.private_key)
    env = {"APP_ID": "7", "PRIVATE_KEY_PATH": str(key), "WEBHOOK_SECRET": "s"}
    settings = Settings.from_env(env)
    assert (settings.private_key, settings.port) == (app_credentials.private_key, 3000)
    assert settings.api_url == "https://api.github.com"
    assert settings.graphql_url == "https://api.github.com/graphql"
    enterprise = Settings.from_env({**env, "GITHUB_API_URL": "https://ghe.example.com/api/v3/"})
    assert enterprise.api_url == "https://ghe.example.com/api/v3"
    assert enterprise.graphql_url == "https://ghe.example.com/api/graphql"
    explicit = Settings.from_env({**env, "GITHUB_GRAPHQL_URL": "http://127.0.0.1:1/gql"})
    assert explicit.graphql_url == "http://127.0.0.1:1/gql"


@pytest.mark.parametrize(
    ("missing", "named"),
    [("APP_ID", "APP_ID"), ("WEBHOOK_SECRET", "WEBHOOK_SECRET"), ("PRIVATE_KEY", "PRIVATE_KEY")],
)
def test_a_missing_setting_is_named_in_one_line(
    missing: str, named: str, app_credentials: AppCredentials
) -> None:
    env = {"APP_ID": "7", "PRIVATE_KEY": app_credentials.private_key, "WEBHOOK_SECRET": "s"}
    del env[missing]
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    assert named in str(error.value)
    assert "\n" not in str(error.value)


def test_an_unreadable_key_file_or_bad_port_is_an_error(
    tmp_path: Path, app_credentials: AppCredentials
) -> None:
    env = {"APP_ID": "7", "WEBHOOK_SECRET": "s", "PRIVATE_KEY_PATH": str(tmp_path / "none.pem")}
    with pytest.raises(SettingsError, match="PRIVATE_KEY_PATH"):
        Settings.from_env(env)
    with pytest.raises(SettingsError, match="PORT"):
        Settings.from_env({**env, "PRIVATE_KEY": app_credentials.private_key, "PORT": "http"})


def failed_start(command: list[str], env: dict[str, str], folder: Path) -> str:
    """What a command that must refuse to start writes to stderr, run in `folder` (no .env)."""
    done = subprocess.run(
        [sys.executable, *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=folder,
    )
    assert done.returncode != 0
    return done.stderr.strip()


def test_serve_fails_at_start_naming_the_missing_setting(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("APP_ID", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "WEBHOOK_SECRET")
    }
    env["APP_ID"] = "7"  # without an App id it would offer to register one
    assert failed_start(["-c", "from bot.server import run; run()"], env, tmp_path) == (
        "dropsafe: missing setting: PRIVATE_KEY or PRIVATE_KEY_PATH is not set"
    )


def test_worker_fails_at_start_without_redis(fake_github: FakeGitHub, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    assert failed_start(["-m", "bot", "worker"], {**env, **fake_github.app_env()}, tmp_path) == (
        "dropsafe: missing setting: REDIS_URL is not set (a worker takes jobs from it)"
    )


def test_log_lines_carry_the_structured_fields() -> None:
    record = logging.LogRecord("bot.jobs", logging.INFO, __file__, 1, "job failed", None, None)
    record.delivery_id = "guid-7"
    line = KeyValueFormatter("%(levelname)s %(message)s").format(record)
    assert line == "INFO job failed delivery_id='guid-7'"


# -- retry policy (GitHub's rate-limit rules) ------------------------------------------------

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("attempt", "status", "headers", "body", "expected"),
    [
        (1, 502, {}, b"", 1.0),
        (3, 500, {}, b"", 4.0),
        (6, 500, {}, b"", None),  # attempts used up: the error is raised
        (1, 503, {"retry-after": "7"}, b"", 7.0),
        (
            1,
            403,
            {"retry-after": "3"},
            b'{"message": "You have exceeded a secondary rate limit"}',
            3.0,
        ),
        (
            1,
            429,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 20)},
            b"",
            21.0,
        ),
        (
            1,
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 3600)},
            b"",
            None,
        ),  # an hour away: not worth holding a worker
        (1, 403, {"x-ratelimit-remaining": "12"}, b'{"message": "secondary rate limit"}', 60.0),
        (2, 403, {}, b'{"message": "You have exceeded a secondary rate limit."}', 120.0),
        (
            1,
            403,
            {"x-ratelimit-remaining": "4999"},
            b'{"message": "Resource not accessible"}',
            None,
        ),
        (1, 404, {}, b"", None),
        (1, 422, {}, b"", None),
    ],
)
def test_retry_policy_follows_githubs_rules(
    attempt: int, status: int, headers: dict[str, str], body: bytes, expected: float | None
) -> None:
    policy = RetryPolicy(
        attempts=5, backoff=1.0, max_backoff=30.0, secondary_wait=60.0, max_wait=300.0
    )
    assert policy.delay(attempt, status, headers, body, NOW) == expected


async def test_what_is_alive_at_start_stays_out_of_the_cycle_collector_while_serving(
    fake_github: FakeGitHub,
) -> None:
    """A burst of deliveries must not pay a full collection over the modules and the App
    (`long_lived_heap`); once the App has stopped, the collector has them back."""
    async with running_app(fake_github):
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0
