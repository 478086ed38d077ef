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
import http
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import cachetools
import gidgethub.abc
import gidgethub.aiohttp
import gidgethub.apps
import gidgethub.sansio

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

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry a request and how long to wait first; `delay` is pure so it is testable.

    GitHub's rules: on a rate limit, wait `retry-after` seconds when given; else, if
    `x-ratelimit-remaining` is 0, until `x-ratelimit-reset`; else (secondary limit) at least
    a minute, backing off exponentially. Server errors back off exponentially. A wait longer
    than `max_wait` is not worth holding a worker for: the error is raised instead.
    """

    attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 30.0
    secondary_wait: float = 60.0
    max_wait: float = 300.0

    def delay(
        self, attempt: int, status: int, headers: Mapping[str, str], body: bytes, now: float
    ) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to return this response."""
        if attempt >= self.attempts:
            return None
        wait = self._wait(attempt, status, headers, body, now)
        if wait is None or wait > self.max_wait:
            return None
        return max(wait, 0.0)

    def backoff_for(self, attempt: int) -> float:
        return float(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))

    def _wait(
        self, attempt: int, status: int, headers: Mapping[str, str], body: bytes, now: float
    ) -> float | None:
        retry_after = _number(headers.get("retry-after"))
        if status >= 500:
            return retry_after if retry_after is not None else self.backoff_for(attempt)
        if status not in (403, 429):
            return None
        if retry_after is not None:
            return retry_after
        reset = _number(headers.get("x-ratelimit-reset"))
        if headers.get("x-ratelimit-remaining") == "0" and reset is not None:
            return reset - now + 1
        if status == 429 or b"secondary rate limit" in body.lower():
            return float(self.secondary_wait * 2 ** (attempt - 1))
        return None  # a plain 403: permissions, not a limit


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
        """`renew_token(refused)` gives a token to use instead of one GitHub answered 401 to."""
        super().__init__(session, requester, **kwargs)
        self.retry = retry or RetryPolicy()
        self.renew_token = renew_token

    async def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
    ) -> tuple[int, Mapping[str, str], bytes]:
        headers = {**headers, "x-github-api-version": API_VERSION}
        attempt = 0
        renewed = False
        while True:
            attempt += 1
            try:
                response = await super()._request(method, url, headers, body)
            except aiohttp.ClientConnectorError:
                # Nothing reached GitHub, so even a POST is safe to send again.
                if attempt >= self.retry.attempts:
                    raise
                delay = self.retry.backoff_for(attempt)
                status = 0
            else:
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
                retry_in = self.retry.delay(
                    attempt, status, response_headers, response_body, time.time()
                )
                if retry_in is None:
                    _log_rate_limit(method, url, status, response_headers)
                    return response
                delay = retry_in
            log.warning(
                "github request failed, retrying",
                extra={
                    "method": method,
                    "url": url,
                    "status": status,
                    "attempt": attempt,
                    "retry_in": delay,
                },
            )
            await self.sleep(delay)


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
        async def renew(refused: str) -> str:
            return await self.installation_token(installation_id, refused=refused)

        token = await self.installation_token(installation_id)
        return GitHubClient(
            self.session,
            oauth_token=token,
            base_url=self.api_url,
            retry=self.retry,
            renew_token=renew,
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


def rate_limited(error: gidgethub.HTTPException) -> bool:
    """A primary (remaining 0) or secondary rate limit: GitHub says 403 or 429 for both."""
    if int(error.status_code) not in (403, 429):
        return False
    remaining = (error.headers or {}).get("x-ratelimit-remaining")
    return (
        isinstance(error, gidgethub.RateLimitExceeded)
        or remaining == "0"
        or "rate limit" in str(error).lower()
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
