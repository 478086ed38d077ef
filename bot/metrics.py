"""What the App counts, for Prometheus: `GET /metrics` in its text format (prometheus_client).

Every process counts what it does itself: `dropsafe serve` the deliveries it answered (and,
with no REDIS_URL, the jobs and reviews it runs); each `dropsafe worker` the jobs, reviews,
GitHub calls and findings of its own work. Processes on one machine can share one view: set
`PROMETHEUS_MULTIPROC_DIR` to an empty directory for all of them (prometheus_client's
multiprocess mode; empty it when the service restarts), and `/metrics` of any of them adds up
every process's files: counters and histograms summed, the queued/running gauges summed over
processes still alive, the rate limit the most recent. Processes on several machines are
scraped each on its own (a worker serves its metrics on METRICS_PORT) and summed in
Prometheus.

The metric objects are module globals, as prometheus_client expects; code records through the
small functions below so that label values stay few and known.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterable, Mapping

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

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


def process_started() -> None:
    """In multiprocess mode, this process's live gauges (jobs queued and running) stop
    counting when it exits cleanly (prometheus_client's `mark_process_dead`)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        atexit.register(mark_process_dead, os.getpid())


def serve(port: int) -> None:
    """Serve `/metrics` on `port` from a thread: for `dropsafe worker`, which has no web
    server of its own."""
    start_http_server(port, registry=registry())


def registry() -> Collector:
    """This process's metrics, or every process's under PROMETHEUS_MULTIPROC_DIR."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shared = CollectorRegistry()
        MultiProcessCollector(shared)
        return shared
    return REGISTRY


def exposition(accept: str = "") -> tuple[bytes, str]:
    """The metrics in the format the scraper's `Accept` header asks for, and its content type
    (prometheus_client's negotiation: OpenMetrics when asked, else the text format)."""
    encode, content_type = choose_encoder(accept)
    return encode(registry()), content_type


async def handle(request: web.Request) -> web.Response:
    """GET /metrics."""
    body, content_type = exposition(request.headers.get("Accept", ""))
    return web.Response(body=body, headers={"Content-Type": content_type})
