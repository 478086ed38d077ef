"""The App's web server: verify and acknowledge webhook deliveries, then work in the background.

GitHub gives a delivery 10 seconds, so the handler only checks the signature, drops
redeliveries, answers, and hands the event to the job queue. Routing follows bedevere: one
module per concern with its own Router, composed here; dependencies reach the handlers as
keyword arguments of `dispatch`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, MutableMapping
from typing import Protocol

import aiohttp
import cachetools
from aiohttp import web
from gidgethub import BadRequest, ValidationFailure, routing, sansio
from gidgethub.abc import GitHubAPI

from bot import checks, commands, pulls
from bot.github import GitHubApp, RetryPolicy
from bot.jobs import JobQueue, ReviewJob
from bot.settings import Settings, SettingsError

WEBHOOK_PATH = "/api/github/webhooks"
SIGNATURE_HEADER = "X-Hub-Signature-256"
DELIVERY_MEMORY = 24 * 60 * 60  # seconds a delivery id is remembered (GitHub redelivers by hand)
BLOB_CACHE_BYTES = 64 * 2**20

router = routing.Router(pulls.router, checks.router, commands.router)
log = logging.getLogger(__name__)


class ReviewRunner(Protocol):
    def __call__(
        self, gh: GitHubAPI, job: ReviewJob, *, app_slug: str,
        blob_cache: MutableMapping[str, bytes], graphql_url: str,
    ) -> Awaitable[None]: ...


SETTINGS = web.AppKey("settings", Settings)
JOBS = web.AppKey("jobs", JobQueue)
GITHUB = web.AppKey("github", GitHubApp)


def make_app(
    settings: Settings,
    *,
    runner: ReviewRunner | None = None,
    app_slug: str | None = None,
    retry: RetryPolicy | None = None,
    workers: int = 4,
) -> web.Application:
    """The aiohttp application. `runner` defaults to `bot.review.run_review`; `app_slug`,
    when not given, is read once from GET /app. `app[JOBS].idle()` waits for all work."""
    blob_cache: cachetools.LRUCache[str, bytes] = cachetools.LRUCache(
        maxsize=BLOB_CACHE_BYTES, getsizeof=len
    )
    app = web.Application()

    async def run_job(job: ReviewJob) -> None:
        github = app[GITHUB]
        gh = await github.installation_client(job.installation_id)
        review = runner or _default_runner()
        await review(
            gh, job, app_slug=app_slug or await github.slug(), blob_cache=blob_cache,
            graphql_url=settings.graphql_url,
        )
        log.info(
            "review finished",
            extra={"delivery_id": job.delivery_id, "reason": job.reason,
                   "rate_limit_remaining": gh.rate_limit.remaining if gh.rate_limit else None},
        )

    async def github_session(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            app[GITHUB] = GitHubApp(session, settings.app_id, settings.private_key,
                                    api_url=settings.api_url, retry=retry)
            app[JOBS].start()
            yield
            await app[JOBS].close()

    app[SETTINGS] = settings
    app[JOBS] = JobQueue(run_job, workers=workers)
    app.cleanup_ctx.append(github_session)
    app.router.add_post(WEBHOOK_PATH, Webhooks(settings.webhook_secret).handle)
    app.router.add_get("/healthz", healthz)
    return app


def _default_runner() -> ReviewRunner:
    # Imported late: the review pipeline pulls in the engine, which the server does not need
    # to answer deliveries.
    from bot.review import run_review

    return run_review


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


class Webhooks:
    """POST /api/github/webhooks: authenticate, deduplicate, acknowledge, queue."""

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self._seen: cachetools.TTLCache[str, bool] = cachetools.TTLCache(
            maxsize=100_000, ttl=DELIVERY_MEMORY
        )

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if SIGNATURE_HEADER not in request.headers:
            return _answer(401, "missing X-Hub-Signature-256")
        missing = [h for h in ("X-GitHub-Event", "X-GitHub-Delivery") if h not in request.headers]
        if missing:
            return _answer(400, f"missing {', '.join(missing)}")
        # Only these headers: gidgethub would otherwise fall back to the SHA-1 signature.
        headers = {
            name.lower(): request.headers[name]
            for name in ("Content-Type", "X-GitHub-Event", "X-GitHub-Delivery", SIGNATURE_HEADER)
            if name in request.headers
        }
        try:
            event = sansio.Event.from_http(headers, body, secret=self._secret)
        except ValidationFailure:
            return _answer(401, "bad signature")
        except BadRequest:
            return _answer(400, "body is not JSON")
        if not isinstance(event.data, dict):
            return _answer(400, "body is not a JSON object")
        return self._accept(request.app, event)

    def _accept(self, app: web.Application, event: sansio.Event) -> web.Response:
        extra = {"delivery_id": event.delivery_id, "event": event.event,
                 "action": event.data.get("action")}
        if event.delivery_id in self._seen:
            log.info("redelivery skipped", extra=extra)
            return _answer(200, "already handled")
        self._seen[event.delivery_id] = True
        if event.event == "ping":
            return _answer(200, "pong")
        if not router.fetch(event) or "installation" not in event.data:
            log.info("event acknowledged, nothing to do", extra=extra)
            return _answer(200, "ignored")
        log.info("event accepted", extra=extra)
        app[JOBS].spawn(dispatch(app, event), delivery_id=event.delivery_id)
        return _answer(202, "accepted")


async def dispatch(app: web.Application, event: sansio.Event) -> None:
    """Route one event to its handlers with an installation client and the job queue."""
    gh = await app[GITHUB].installation_client(int(event.data["installation"]["id"]))
    await router.dispatch(event, gh, jobs=app[JOBS])


def _answer(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


class KeyValueFormatter(logging.Formatter):
    """Appends a record's `extra=` fields as key=value pairs, so logs stay greppable."""

    _standard = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
        "message", "asctime", "taskName",
    }

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in vars(record).items() if k not in self._standard}
        line = super().format(record)
        return " ".join([line, *(f"{k}={v!r}" for k, v in fields.items())])


def run(port: int | None = None) -> None:
    """`dropsafe serve`: read the settings (one clear line if one is missing) and serve."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise SystemExit(f"dropsafe: {exc}") from None
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    web.run_app(make_app(settings), port=port or settings.port, print=None)

