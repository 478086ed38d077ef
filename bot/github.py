"""The GitHub client: gidgethub over aiohttp, with the API version header, retries and App auth.

`GitHubClient` is gidgethub's aiohttp client with one change at the HTTP layer (`_request`), so
REST and GraphQL calls alike carry `X-GitHub-Api-Version` and are retried on 5xx and rate limits
by GitHub's rules (docs: "rate limits for the REST API"). `GitHubApp` holds the App's identity
and a cache of installation tokens, so a burst of deliveries costs one token request; a token
GitHub refuses (401) before its time is replaced once and the request sent again.
`describe` turns what can go wrong talking to GitHub (`GITHUB_ERRORS`) into a reason a person
can act on, for check-run summaries and log lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import http
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import cachetools
import gidgethub.abc
import gidgethub.aiohttp
import gidgethub.apps
import gidgethub.sansio

from bot import metrics

API_VERSION = "2022-11-28"
REQUESTER = "dropsafe"
# Refresh an installation token this long before GitHub says it expires (they last one hour).
TOKEN_REFRESH_MARGIN = 5 * 60

GITHUB_ERRORS = (
    gidgethub.GitHubException,
    json.JSONDecodeError,
    aiohttp.ClientError,
    asyncio.TimeoutError,
)
"""Failures of a call to GitHub: an error answer, a broken body, no connection, a timeout."""

LOST_ANSWERS = (
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientOSError,  # a connection reset
    aiohttp.ClientPayloadError,  # the answer cut short
    asyncio.TimeoutError,
)
"""Failures after the request may have reached GitHub: whether it was applied is unknown.
(`aiohttp.ClientConnectorError`, a `ClientOSError` too, means nothing was sent.)"""

REPEATABLE_POSTS = re.compile(r".*(/access_tokens|/reactions|/graphql)$")
"""POSTs that may be sent twice: a second installation token or reaction changes nothing, and
our GraphQL mutation (`resolveReviewThread`) is idempotent. Other POSTs create something."""

log = logging.getLogger(__name__)


class OutcomeUnknown(gidgethub.GitHubException):
    """A write GitHub may or may not have applied (a 5xx, a timeout, a dropped connection).

    Raised instead of sending the write again: the caller looks for what the write would have
    created before deciding to repeat it (`create_once`).
    """

    def __init__(self, method: str, url: str, cause: str, status: int | None = None) -> None:
        super().__init__(f"{method} {urlsplit(url).path}: {cause}")
        self.status = status


_REPEAT_GUARD: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "github_writes_not_repeatable", default=False
)


@contextlib.contextmanager
def not_repeatable() -> Iterator[None]:
    """Writes sent inside this block raise `OutcomeUnknown` instead of being repeated blindly:
    for a PATCH that appends (a check run's annotations), not just sets."""
    token = _REPEAT_GUARD.set(True)
    try:
        yield
    finally:
        _REPEAT_GUARD.reset(token)


def repeatable(method: str, url: str) -> bool:
    """Whether sending `method url` twice has the effect of sending it once."""
    if method in ("GET", "HEAD"):
        return True
    if _REPEAT_GUARD.get():
        return False
    if method == "POST":
        return REPEATABLE_POSTS.fullmatch(urlsplit(url).path) is not None
    return True  # PUT, PATCH and DELETE set state


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry a request, how long to wait first, and how long a worker may hold on.

    GitHub's rules (docs: "rate limits for the REST API"): on a rate limit, wait `retry-after`
    seconds when given; else, if `x-ratelimit-remaining` is 0, until `x-ratelimit-reset`; else
    (a secondary limit, or 429) at least `secondary_wait`, backing off exponentially. Server
    errors, timeouts and dropped connections back off exponentially with jitter (`rand`, so
    that `delay` stays pure). A request gives up after `attempts` tries or `deadline` seconds;
    a wait longer than `max_wait` is not worth holding a worker for: the answer is returned
    (the job asks to be re-queued instead, see `retry_delay`). `timeout` bounds each try.
    A job that GitHub failed before it could start is put off `job_backoff` seconds (or as
    long as a rate limit says), and so is one a rate limit stopped midway: `job_attempts`
    tries in all, none starting over `job_deadline` seconds after the first was put off
    (`deferral`).
    """

    attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 30.0
    secondary_wait: float = 60.0
    max_wait: float = 10.0
    timeout: float = 30.0
    deadline: float = 120.0
    job_backoff: float = 30.0
    job_attempts: int = 5
    job_deadline: float = 3 * 60 * 60.0

    def delay(
        self,
        attempt: int,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        now: float,
        rand: float = 1.0,
    ) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to return this response."""
        if attempt >= self.attempts:
            return None
        wait = self.wait(attempt, status, headers, body, now, rand)
        if wait is None or wait > self.max_wait:
            return None
        return wait

    def wait(
        self,
        attempt: int,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        now: float,
        rand: float = 1.0,
    ) -> float | None:
        """What GitHub asks us to wait after this answer (however long), None: no retry helps."""
        retry_after = _number(headers.get("retry-after"))
        if status >= 500:
            return retry_after if retry_after is not None else self.backoff_for(attempt, rand)
        if status not in (403, 429):
            return None
        if retry_after is not None:
            return max(retry_after, 0.0)
        reset = _number(headers.get("x-ratelimit-reset"))
        if headers.get("x-ratelimit-remaining") == "0" and reset is not None:
            return max(reset - now + 1, 0.0)
        if status == 429 or b"secondary rate limit" in body.lower():
            return float(self.secondary_wait * 2 ** (attempt - 1))
        return None  # a plain 403: permissions, not a limit

    def backoff_for(self, attempt: int, rand: float = 1.0) -> float:
        """Exponential backoff with "equal jitter": between half and all of the nominal wait."""
        nominal = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return float(nominal * (0.5 + 0.5 * rand))


def _number(raw: str | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


class GitHubClient(gidgethub.aiohttp.GitHubAPI):
    """gidgethub's aiohttp client that sends the API version and retries by `RetryPolicy`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        requester: str = REQUESTER,
        *,
        retry: RetryPolicy | None = None,
        renew_token: Callable[[str], Awaitable[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        """`renew_token(refused)` gives a token to use instead of one GitHub answered 401 to
        (`refused` empty: the first token of a client made without one)."""
        super().__init__(session, requester, **kwargs)
        self.retry = retry or RetryPolicy()
        self.renew_token = renew_token

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        headers = {**headers, "x-github-api-version": API_VERSION}
        if self.renew_token is not None and "authorization" not in headers:
            # Made without a token (`GitHubApp.installation_client`): the first call gets one.
            self.oauth_token = await self.renew_token("")
            headers["authorization"] = f"token {self.oauth_token}"
        can_repeat = repeatable(method, url)
        give_up_at = time.monotonic() + self.retry.deadline
        attempt = 0
        renewed = False
        while True:
            attempt += 1
            try:
                response = await self._send(method, url, headers, body)
            except aiohttp.ClientConnectorError as error:
                # Nothing reached GitHub, so even a POST is safe to send again.
                failure: BaseException | None = error
                status, delay = 0, self.retry.backoff_for(attempt, random.random())
            except LOST_ANSWERS as error:
                cause = f"{type(error).__name__}: {error}".rstrip(": ")
                if not can_repeat:
                    raise OutcomeUnknown(method, url, cause) from error
                failure = error
                status, delay = 0, self.retry.backoff_for(attempt, random.random())
            else:
                failure = None
                status, response_headers, response_body = response
                if status == 401 and self.renew_token is not None and not renewed:
                    # Revoked or expired early (clock skew): one new token, one more try.
                    renewed = True
                    refused = headers.get("authorization", "").removeprefix("token ")
                    self.oauth_token = await self.renew_token(refused)
                    headers["authorization"] = f"token {self.oauth_token}"
                    log.warning(
                        "installation token refused, renewed", extra={"method": method, "url": url}
                    )
                    continue
                if status >= 500 and not can_repeat:
                    raise OutcomeUnknown(method, url, f"GitHub answered {status}", status)
                retry_in = self.retry.delay(
                    attempt, status, response_headers, response_body, time.time(), random.random()
                )
                if retry_in is None or time.monotonic() + retry_in > give_up_at:
                    return response
                delay = retry_in
            if failure is not None and (
                attempt >= self.retry.attempts or time.monotonic() + delay > give_up_at
            ):
                raise failure
            log.warning(
                "github request failed, retrying",
                extra={
                    "method": method,
                    "url": url,
                    "status": status,
                    "error": type(failure).__name__ if failure else None,
                    "attempt": attempt,
                    "retry_in": round(delay, 3),
                },
            )
            await self.sleep(delay)

    async def _send(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Mapping[str, str], bytes]:
        """One try, bounded by the policy's timeout; every answer is counted and its rate
        limit noted (`bot.metrics`)."""
        timeout = aiohttp.ClientTimeout(total=self.retry.timeout)
        try:
            async with self._session.request(
                method, url, headers=headers, data=body, timeout=timeout
            ) as response:
                answer = response.status, response.headers, await response.read()
        except (TimeoutError, aiohttp.ClientError) as error:
            metrics.github_call(method, type(error).__name__)
            raise
        metrics.github_call(method, str(answer[0]), answer[1])
        _log_rate_limit(method, url, answer[0], answer[1])
        return answer


async def download(
    gh: gidgethub.abc.GitHubAPI, url: str, url_vars: Mapping[str, str | int]
) -> bytes:
    """The body of a GET that answers with a file rather than JSON: an archive, after GitHub's
    redirect to codeload (aiohttp follows it). gidgethub's `getitem` would decode it as text,
    so this calls the client's `_request`, the adapter method gidgethub's own calls go through
    (for a `GitHubClient`: the API version header and retries). Errors raise as in `getitem`."""
    full_url = gidgethub.sansio.format_url(url, url_vars, base_url=gh.base_url)
    headers = gidgethub.sansio.create_headers(gh.requester, oauth_token=gh.oauth_token)
    status, response_headers, body = await gh._request("GET", full_url, headers)
    if status == 200:
        return body
    gidgethub.sansio.decipher_response(status, response_headers, body)
    raise gidgethub.HTTPException(http.HTTPStatus(status))  # a 2xx without the file


T = TypeVar("T")


async def write_once(
    gh: gidgethub.abc.GitHubAPI,
    send: Callable[[], Awaitable[T]],
    find: Callable[[], Awaitable[T | None]],
    *,
    look_first: bool = False,
) -> T:
    """`send()` a write that must happen once; when its answer is lost (`OutcomeUnknown`),
    `find()` looks for what it would have done, and only when that is not there is the write
    sent again, with backoff, within the client's `RetryPolicy.attempts`.

    `look_first`: `find()` before the first send too, for a write whose name (its marker)
    is the same in every attempt of the work, so that running the work again (a job retried,
    a delivery sent again) does not write it a second time."""
    if look_first and (found := await find()) is not None:
        log.info("github write found done, not sent again")
        return found
    policy = gh.retry if isinstance(gh, GitHubClient) else RetryPolicy()
    attempt = 0
    while True:
        attempt += 1
        try:
            return await send()
        except OutcomeUnknown as unknown:
            found = await find()
            if found is not None:
                log.info(
                    "github write had been applied, not sent again", extra={"why": str(unknown)}
                )
                return found
            if attempt >= policy.attempts:
                raise
            delay = policy.backoff_for(attempt, random.random())
            log.warning(
                "github write lost, sending again",
                extra={"why": str(unknown), "attempt": attempt, "retry_in": round(delay, 3)},
            )
            await asyncio.sleep(delay)


def retry_delay(error: BaseException, policy: RetryPolicy, attempt: int = 1) -> float | None:
    """How long a job should wait before its try `attempt + 1` after `error`, or None when
    running again cannot help (a 404, a missing permission, a broken answer): a rate limit
    waits as GitHub says (a secondary one without `retry-after` from a minute, doubling), a
    server error or an unreachable GitHub `policy.job_backoff`."""
    answer = _error_answer(error)
    if answer is not None:
        status, headers = answer
        wait = policy.wait(attempt, status, headers, str(error).encode(), time.time())
        return None if wait is None else max(wait, policy.job_backoff if status >= 500 else 0.0)
    if isinstance(error, (OutcomeUnknown, aiohttp.ClientError, asyncio.TimeoutError)):
        return policy.job_backoff
    return None


def deferral(
    error: BaseException, policy: RetryPolicy, deferred: int, since: float = 0.0
) -> float | None:
    """Seconds to put off a job that `error` stopped, or None when another try cannot help,
    the job was already put off `policy.job_attempts - 1` times, or its next try would start
    over `policy.job_deadline` seconds after it was first put off (at `since`)."""
    if deferred + 1 >= policy.job_attempts:
        return None
    delay = retry_delay(error, policy, deferred + 1)
    if delay is None or (since and time.time() + delay - since > policy.job_deadline):
        return None
    return delay


def _log_rate_limit(method: str, url: str, status: int, headers: Mapping[str, str]) -> None:
    limit = gidgethub.sansio.RateLimit.from_http(headers)
    remaining = limit.remaining if limit else None
    low = limit is not None and limit.remaining < limit.limit // 10
    log.log(
        logging.WARNING if low else logging.DEBUG,
        "github request",
        extra={"method": method, "url": url, "status": status, "rate_limit_remaining": remaining},
    )


@dataclass(frozen=True)
class _Token:
    token: str
    refresh_at: float  # time.monotonic() value


def _token_ttu(_key: int, token: _Token, _now: float) -> float:
    return token.refresh_at


class GitHubApp:
    """The App's identity: JWT client, cached installation tokens, clients per installation."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        app_id: str,
        private_key: str,
        *,
        api_url: str = "https://api.github.com",
        retry: RetryPolicy | None = None,
    ) -> None:
        self.session, self.app_id, self.private_key = session, app_id, private_key
        self.api_url, self.retry = api_url, retry or RetryPolicy()
        # gidgethub signs a JWT when the client has app_id + private_key, and reuses it.
        self.app = GitHubClient(
            session, app_id=app_id, private_key=private_key, base_url=api_url, retry=self.retry
        )
        self._tokens: cachetools.TLRUCache[int, _Token] = cachetools.TLRUCache(
            maxsize=4096, ttu=_token_ttu
        )
        self._locks: dict[int, asyncio.Lock] = {}
        self._about: dict[str, Any] | None = None

    async def installation_client(self, installation_id: int) -> GitHubClient:
        """A client for the installation. Its token is fetched (or taken from the cache) with
        its first call, not here: routing an event that needs no call to GitHub (a push
        queues a review) must not fail because GitHub's token endpoint does; the review
        then meets the failure, and is retried as a job."""

        async def renew(refused: str) -> str:
            return await self.installation_token(installation_id, refused=refused)

        return GitHubClient(
            self.session, base_url=self.api_url, retry=self.retry, renew_token=renew
        )

    async def installation_token(self, installation_id: int, *, refused: str = "") -> str:
        """The cached token, fetched once per installation until shortly before it expires.

        `refused`: a token GitHub answered 401 to; it is replaced, once however many
        requests saw it fail (they all wait for the same fetch).
        """
        lock = self._locks.setdefault(installation_id, asyncio.Lock())
        async with lock:  # concurrent deliveries wait for one fetch instead of each fetching
            cached = self._tokens.get(installation_id)
            if cached is not None and cached.token != refused:
                return cached.token
            response = await gidgethub.apps.get_installation_access_token(
                self.app,
                installation_id=str(installation_id),
                app_id=self.app_id,
                private_key=self.private_key,
            )
            token = _Token(response["token"], _refresh_at(response["expires_at"]))
            self._tokens[installation_id] = token
            log.info("installation token fetched", extra={"installation_id": installation_id})
            return token.token

    async def slug(self) -> str:
        """The App's slug (its bot user is `<slug>[bot]`), read once from GET /app."""
        return str((await self.about())["slug"])

    async def about(self) -> dict[str, Any]:
        """GET /app (name, slug, html_url, ...), read once: it does not change while we run."""
        if self._about is None:
            self._about = dict(await self.app.getitem("/app"))
        return self._about

    async def installation_count(self) -> int:
        """How many accounts have installed the App (GET /app/installations, every page)."""
        return sum([1 async for _ in self.app.getiter("/app/installations")])


def _refresh_at(expires_at: str) -> float:
    expires = datetime.fromisoformat(expires_at.replace("Z", "+00:00")).timestamp()
    return time.monotonic() + (expires - time.time()) - TOKEN_REFRESH_MARGIN


def describe(error: BaseException) -> str:
    """Why a call to GitHub failed, in words a person can act on (check-run summary, logs)."""
    if isinstance(error, json.JSONDecodeError):
        return f"GitHub's answer was not valid JSON ({error.msg})"
    if isinstance(error, gidgethub.HTTPException):
        status = f"{int(error.status_code)} {error}".strip()
        if rate_limited(error):
            reset = _reset_time(error.headers or {})
            until = f" until {reset:%H:%M} UTC" if reset else ""
            return f"GitHub's API rate limit for this installation is used up{until} ({status})"
        if missing_permission(error):
            return (
                f"GitHub refused: the App lacks a permission on this repository ({status}); "
                "an owner may need to accept the App's requested permissions"
            )
        return f"GitHub answered {status}"
    if isinstance(error, gidgethub.GraphQLException):
        return f"GitHub's GraphQL API answered with errors: {error}"
    if isinstance(error, (aiohttp.ClientError, asyncio.TimeoutError)):
        return f"GitHub could not be reached ({type(error).__name__}: {error})"
    return f"{type(error).__name__}: {error}"


def _error_answer(error: BaseException) -> tuple[int, Mapping[str, str]] | None:
    """The status and headers of the error answer GitHub gave (gidgethub keeps no headers
    of a GraphQL answer), or None when no answer came."""
    if isinstance(error, gidgethub.HTTPException):
        return int(error.status_code), error.headers or {}
    if isinstance(error, gidgethub.BadGraphQLRequest):
        return int(error.status_code), {}
    return None


def rate_limited(error: BaseException) -> bool:
    """A primary (remaining 0) or secondary rate limit: GitHub says 403 or 429 for both."""
    answer = _error_answer(error)
    if answer is None:
        return False
    status, headers = answer
    return status == 429 or (
        status == 403
        and (headers.get("x-ratelimit-remaining") == "0" or "rate limit" in str(error).lower())
    )


def missing_permission(error: BaseException) -> bool:
    """A 403 that is no rate limit: "Resource not accessible by integration"."""
    return (
        isinstance(error, gidgethub.HTTPException)
        and int(error.status_code) == 403
        and not rate_limited(error)
    )


def _reset_time(headers: Mapping[str, str]) -> datetime | None:
    reset = _number(headers.get("x-ratelimit-reset"))
    return datetime.fromtimestamp(reset, UTC) if reset is not None else None
