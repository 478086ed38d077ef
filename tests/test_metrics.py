"""GET /metrics: Prometheus's text format from prometheus_client, counting what the App did.

Counters are per process and the tests share one, so each test reads the metrics before
and after what it does and checks the difference.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis.asyncio as aioredis
from app_harness import AppUnderTest, running_app
from fakegithub import FakeGitHub, delivery_headers
from prometheus_client.parser import text_string_to_metric_families
from test_review_app import opened, seed

from bot.server import HEALTH_TIMEOUT, WEBHOOK_PATH

Labels = dict[str, str]


def sample(text: str, name: str, labels: Labels | None = None) -> float:
    """The value of the sample `name` with `labels` (0 when absent, as for a new counter)."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == (labels or {}):
                return float(found.value)
    return 0.0


async def scrape(bot: AppUnderTest) -> str:
    response = await bot.client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return await response.text()


COUNTED = [
    ("dropsafe_webhook_deliveries_total", {"event": "pull_request", "outcome": "accepted"}, 1),
    ("dropsafe_webhook_deliveries_total", {"event": "other", "outcome": "refused_401"}, 1),
    ("dropsafe_github_requests_total", {"method": "POST", "status": "201"}, 2),
    ("dropsafe_github_requests_total", {"method": "POST", "status": "200"}, 1),
    ("dropsafe_github_requests_total", {"method": "GET", "status": "502"}, 1),
    ("dropsafe_findings_total", {"rule": "drop-block-on"}, 1),
    ("dropsafe_findings_total", {"rule": "drop-unwrap"}, 1),
    ("dropsafe_review_duration_seconds_count", {}, 1),
]
"""What one review with a retried blob and one refused delivery add (the token and the check
run are created with 201, the review with 200)."""


async def test_metrics_count_deliveries_github_calls_findings_and_reviews(
    fake_github: FakeGitHub,
) -> None:
    seed(fake_github)
    async with running_app(fake_github) as bot:
        before = await scrape(bot)
        fake_github.fail_next("GET", "/repos/{o}/{r}/git/blobs/{sha}", 502)
        assert (await bot.deliver("pull_request", opened())).status == 202
        await bot.idle()
        headers = delivery_headers("made-up-event", b"{}", "not the secret")
        assert (await bot.client.post(WEBHOOK_PATH, data=b"{}", headers=headers)).status == 401
        after = await scrape(bot)
    for name, labels, added in COUNTED:
        assert sample(after, name, labels) - sample(before, name, labels) == added, (name, labels)
    assert sample(after, "dropsafe_jobs_queued") == 0
    assert sample(after, "dropsafe_jobs_running") == 0
    remaining = sample(after, "dropsafe_github_rate_limit_remaining", {"resource": "core"})
    assert remaining == 5000 - fake_github.rate_limit_used  # the fake's latest answer


COUNT_ONE = """
import sys
from bot import metrics
metrics.process_started()
metrics.delivery("ping", "pong")
metrics.JOBS_RUNNING.inc()
if sys.argv[1] == "crash":
    import os
    os._exit(1)  # no clean exit: its running job still counts
"""


def test_processes_sharing_a_multiprocess_directory_are_added_up(tmp_path: Path) -> None:
    """PROMETHEUS_MULTIPROC_DIR: what three processes counted, in one exposition."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for how in ("exit", "exit", "crash"):
        subprocess.run([sys.executable, "-c", COUNT_ONE, how], env=env, timeout=60, check=False)
    shown = subprocess.run(
        [sys.executable, "-c", "from bot import metrics; print(metrics.exposition()[0].decode())"],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    ).stdout
    pongs = {"event": "ping", "outcome": "pong"}
    assert sample(shown, "dropsafe_webhook_deliveries_total", pongs) == 3
    # Running jobs count while their process lives ("livesum"): two exited cleanly.
    assert sample(shown, "dropsafe_jobs_running") == 1


async def test_healthz_reports_redis_when_it_is_configured(
    fake_github: FakeGitHub, redis_url: str
) -> None:
    async with running_app(fake_github, redis_url=redis_url) as bot:
        up = await bot.client.get("/healthz")
        assert (up.status, await up.json()) == (200, {"status": "ok", "redis": "ok"})
        client = aioredis.from_url(redis_url)
        # Redis stops answering (every client paused) for longer than /healthz waits.
        await client.execute_command("CLIENT", "PAUSE", int((HEALTH_TIMEOUT + 0.5) * 1000), "ALL")
        await client.aclose()
        down = await bot.client.get("/healthz")
        assert (down.status, await down.json()) == (
            503,
            {"status": "unavailable", "redis": "unreachable (TimeoutError)"},
        )


async def test_healthz_without_redis_is_ok(fake_github: FakeGitHub) -> None:
    async with running_app(fake_github) as bot:
        answer = await bot.client.get("/healthz")
        assert (answer.status, await answer.json()) == (200, {"status": "ok"})
