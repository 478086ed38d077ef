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
from gidgethub import routing, sansio
from gidgethub.abc import GitHubAPI

from bot import checks, commands, pulls
from bot.github import GitHubApp, RetryPolicy
from bot.jobs import DeliveryIdFilter, JobQueue, ReviewJob
from bot.payload import Shape, problems
from bot.settings import Settings, SettingsError
from bot.webhooks import MAX_PAYLOAD_BYTES, ReadBudget, Refused, read_delivery

WEBHOOK_PATH = "/api/github/webhooks"
DELIVERY_MEMORY = 24 * 60 * 60  # seconds a delivery id is remembered (GitHub redelivers by hand)
BLOB_CACHE_BYTES = 64 * 2**20

router = routing.Router(pulls.router, checks.router, commands.router)
PAYLOADS: dict[str, Shape] = {**pulls.PAYLOADS, **checks.PAYLOADS, **commands.PAYLOADS}
log = logging.getLogger(__name__)


class ReviewRunner(Protocol):
    def __call__(
        self,
        gh: GitHubAPI,
        job: ReviewJob,
        *,
        app_slug: str,
        blob_cache: MutableMapping[str, bytes],
        graphql_url: str,
    ) -> Awaitable[None]: ...


JOBS = web.AppKey("jobs", JobQueue)
GITHUB = web.AppKey("github", GitHubApp)


def make_app(
    settings: Settings,
    *,
    runner: ReviewRunner | None = None,
    retry: RetryPolicy | None = None,
    workers: int = 4,
    read_budget: ReadBudget | None = None,
) -> web.Application:
    """The aiohttp application. `runner` defaults to `bot.review.run_review`; the App's slug
    is read once from GET /app. `app[JOBS].idle()` waits for all work."""
    blob_cache: cachetools.LRUCache[str, bytes] = cachetools.LRUCache(
        maxsize=BLOB_CACHE_BYTES, getsizeof=len
    )
    app = web.Application(client_max_size=MAX_PAYLOAD_BYTES)

    async def run_job(job: ReviewJob) -> None:
        github = app[GITHUB]
        gh = await github.installation_client(job.installation_id)
        review = runner or _default_runner()
        await review(
            gh,
            job,
            app_slug=await github.slug(),
            blob_cache=blob_cache,
            graphql_url=settings.graphql_url,
        )
        log.info(
            "review finished",
            extra={
                "delivery_id": job.delivery_id,
                "reason": job.reason,
                "rate_limit_remaining": gh.rate_limit.remaining if gh.rate_limit else None,
            },
        )

    async def github_session(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            app[GITHUB] = GitHubApp(
                session,
                settings.app_id,
                settings.private_key,
                api_url=settings.api_url,
                retry=retry,
            )
            app[JOBS].start()
            yield
            await app[JOBS].close()

    app[JOBS] = JobQueue(run_job, workers=workers)
    app.cleanup_ctx.append(github_session)
    webhooks = Webhooks(settings.webhook_secret, read_budget or ReadBudget())
    app.router.add_post(WEBHOOK_PATH, webhooks.handle)
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
    """POST /api/github/webhooks: authenticate, deduplicate, acknowledge, queue.

    The request itself (headers, bounded body read, signature, parsing) is `bot.webhooks`'s;
    here, what the payload asks for.
    """

    def __init__(self, secret: str, budget: ReadBudget) -> None:
        self._secret, self._budget = secret, budget
        self._seen: cachetools.TTLCache[str, bool] = cachetools.TTLCache(
            maxsize=100_000, ttl=DELIVERY_MEMORY
        )

    async def handle(self, request: web.Request) -> web.Response:
        """Answer within GitHub's 10 seconds; a refusal (4xx) names its reason and is logged."""
        try:
            event = await self._event(request)
        except Refused as refusal:
            log.warning(
                "delivery refused",
                extra={
                    "delivery_id": request.headers.get("X-GitHub-Delivery"),
                    "event": request.headers.get("X-GitHub-Event"),
                    "status": refusal.status,
                    "reason": refusal.reason,
                },
            )
            return _answer(refusal.status, refusal.reason)
        return self._accept(request.app, event)

    async def _event(self, request: web.Request) -> sansio.Event:
        event = await read_delivery(request, self._secret, self._budget)
        if not isinstance(event.data.get("action", ""), str):
            raise Refused(400, "payload refused: `action` is not a string")
        wrong = problems(event.data, PAYLOADS.get(event.event, {})) if router.fetch(event) else []
        if wrong:
            raise Refused(400, "payload refused: " + "; ".join(wrong))
        return event

    def _accept(self, app: web.Application, event: sansio.Event) -> web.Response:
        extra = {
            "delivery_id": event.delivery_id,
            "event": event.event,
            "action": event.data.get("action"),
        }
        if event.delivery_id in self._seen:
            log.info("redelivery skipped", extra=extra)
            return _answer(200, "already handled")
        self._seen[event.delivery_id] = True
        if event.event == "ping":
            return _answer(200, "pong")
        if not router.fetch(event):
            log.info("event acknowledged, nothing to do", extra=extra)
            return _answer(200, "ignored")
        log.info("event accepted", extra=extra)
        app[JOBS].spawn(self._dispatch(app, event), delivery_id=event.delivery_id)
        return _answer(202, "accepted")

    async def _dispatch(self, app: web.Application, event: sansio.Event) -> None:
        try:
            await dispatch(app, event)
        except Exception:
            # Nothing may have been queued (GitHub down, say): a redelivery must not be skipped.
            self._seen.pop(event.delivery_id, None)
            raise


async def dispatch(app: web.Application, event: sansio.Event) -> None:
    """Route one event to its handlers with an installation client and the job queue."""
    gh = await app[GITHUB].installation_client(event.data["installation"]["id"])
    await router.dispatch(event, gh, jobs=app[JOBS])


def _answer(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


class KeyValueFormatter(logging.Formatter):
    """Appends a record's `extra=` fields as key=value pairs, so logs stay greppable."""

    _standard = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
        "message",
        "asctime",
        "taskName",
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
    handler.addFilter(DeliveryIdFilter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    web.run_app(make_app(settings), port=port or settings.port, print=None)
