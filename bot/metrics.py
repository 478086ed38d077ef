"""What the App counts, for Prometheus: `GET /metrics` in its text format (prometheus_client).

Every process counts what it does itself: `dropsafe serve` the deliveries it answered (and,
with no REDIS_URL, the jobs and reviews it runs); each `dropsafe worker` the jobs, reviews,
GitHub calls and findings of its own work. Processes on one machine can share one view: set
`PROMETHEUS_MULTIPROC_DIR` to an empty directory for all of them (prometheus_client's
multiprocess mode), and `/metrics` of any of them adds up every process's files. Processes on
several machines are scraped each on its own, and summed in Prometheus.

The metric objects are module globals, as prometheus_client expects; code records through the
small functions below so that label values stay few and known.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

DELIVERIES = Counter(
    "dropsafe_webhook_deliveries",
    "Webhook deliveries answered, by event and outcome "
    "(accepted, ignored, redelivery, pong, or refused_<status>).",
    ["event", "outcome"],
)
JOBS_QUEUED = Gauge(
    "dropsafe_jobs_queued", "Review jobs waiting for a worker.", multiprocess_mode="livesum"
)
JOBS_RUNNING = Gauge(
    "dropsafe_jobs_running", "Review jobs being run now.", multiprocess_mode="livesum"
)
JOBS_RETRIED = Counter("dropsafe_jobs_retried", "Review jobs re-queued to run again later.")
JOBS_FAILED = Counter(
    "dropsafe_jobs_failed", "Review jobs that ended with an error or ran out of retries."
)
REVIEW_SECONDS = Histogram(
    "dropsafe_review_duration_seconds",
    "Time from a review's start to its end (check run completed, review posted).",
    buckets=(0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300),
)
GITHUB_REQUESTS = Counter(
    "dropsafe_github_requests",
    "Requests to GitHub's API, by method and HTTP status (or the error when none came back).",
    ["method", "status"],
)
RATE_LIMIT_REMAINING = Gauge(
    "dropsafe_github_rate_limit_remaining",
    "x-ratelimit-remaining of GitHub's latest answer, by resource (core, graphql, ...).",
    ["resource"],
    multiprocess_mode="mostrecent",
)
FINDINGS = Counter("dropsafe_findings", "Findings reported by reviews, by rule.", ["rule"])


def delivery(event: str, outcome: str) -> None:
    DELIVERIES.labels(event=event or "none", outcome=outcome).inc()


def github_call(method: str, status: str, headers: Mapping[str, str] | None = None) -> None:
    """One answer (or failure) from GitHub, and the rate limit it reports."""
    GITHUB_REQUESTS.labels(method=method, status=status).inc()
    remaining = (headers or {}).get("x-ratelimit-remaining")
    if remaining is not None and remaining.isdigit():
        resource = (headers or {}).get("x-ratelimit-resource", "core")
        RATE_LIMIT_REMAINING.labels(resource=resource).set(int(remaining))


def findings(rules: Iterable[str]) -> None:
    for rule in rules:
        FINDINGS.labels(rule=rule).inc()


def exposition() -> bytes:
    """This process's metrics, or every process's under PROMETHEUS_MULTIPROC_DIR."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


async def handle(request: web.Request) -> web.Response:
    """GET /metrics."""
    return web.Response(body=exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})
