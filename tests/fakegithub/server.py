"""The fake GitHub as a real HTTP server on 127.0.0.1: the pipeline every request goes through.

Order per request: record it, wait `latency`, injected fault, route (404), API version
(400), credentials (401), query parameters and body against the spec (400/422), then
the handler; every answer carries rate-limit headers, like GitHub's. A fault may also come
after the handler (`applied`: GitHub did the work, the answer says it failed), come late
(`delay`) or never (`drop`: the connection is cut): the ways an answer gets lost.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import traceback
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import graphql
from .auth import app_jwt_error, credential
from .credentials import AppCredentials
from .git import archive_prefix, tarball
from .manifest_flow import ManifestFlow
from .responses import Renderer
from .routes import CODELOAD, HANDLERS, Call, Context, GitHubError, Reply, invalid_request
from .schema import Operation, RestSpec, load_spec, query_errors, schema_errors
from .state import GitHubState

API_VERSION = "2022-11-28"
RATE_LIMIT = 5000
# Served besides the subset: GraphQL.
EXTRA_OPERATIONS = (Operation("graphql", "POST", "/graphql", has_body=True, in_subset=False),)
CODELOAD_OPERATION = "codeload/archive"
"""The `operation_id` recorded for archive downloads: codeload's, not the REST API's."""
JWT_OPERATIONS = {
    "apps/create-installation-access-token",
    "apps/get-authenticated",
    "apps/list-installations",
}
UNAUTHENTICATED_OPERATIONS = {"apps/create-from-manifest"}
FAULT_MESSAGES = {
    403: "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again.",
    429: "API rate limit exceeded for installation.",
}


@dataclass
class RecordedRequest:
    """One request as the fake received it, and what it answered."""

    method: str
    path: str
    query: dict[str, str]
    json: Any  # the parsed body, None when empty or not JSON
    headers: dict[str, str]  # lower-cased names
    operation_id: str | None = None
    status: int | None = None  # None: no answer was sent (a dropped connection)
    response: Any = None


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    headers: dict[str, str]
    body: Any  # JSON, or bytes sent as they are (a broken body)
    query: dict[str, str]
    skip: int  # matching requests still to let through before the fault applies
    applied: bool  # the request is served (its effect happens) before the fault answers
    delay: float  # seconds to wait before answering
    drop: bool  # the connection is closed instead of answering

    def reply(self) -> Reply:
        return Reply(self.status, self.body, self.headers)


@dataclass
class Hold:
    """Requests that wait at the door until `release()`; `arrived` is set by the first one."""

    method: str
    pattern: re.Pattern[str]
    arrived: asyncio.Event
    released: asyncio.Event

    def release(self) -> None:
        self.released.set()


def path_pattern(pattern: str) -> re.Pattern[str]:
    """`*` matches anything, `{name}` one path segment; everything else is literal."""
    out = []
    for piece in re.split(r"(\*|\{\w+\})", pattern):
        out.append(".*" if piece == "*" else "[^/]+" if piece.startswith("{") else re.escape(piece))
    return re.compile("".join(out))


class FakeGitHub(GitHubState):
    """GitHub's REST subset + `GET /app` + GraphQL, on a random local port.

    `async with FakeGitHub() as gh:` starts it; `gh.url` is the API base URL to give the App.
    """

    def __init__(
        self,
        credentials: AppCredentials | None = None,
        *,
        latency: float = 0.0,
        token_ttl: float = 3600.0,
        app_slug: str = "dropsafe",
        spec: RestSpec | None = None,
    ) -> None:
        self.credentials = credentials or AppCredentials.generate()
        super().__init__(app_id=self.credentials.app_id, app_slug=app_slug, token_ttl=token_ttl)
        self.latency = latency
        self.spec = spec or load_spec()
        self.requests: list[RecordedRequest] = []
        self.internal_errors: list[str] = []  # bugs in the fake itself: tests should fail
        self.rate_limit_used = 0
        self.url = ""
        self._faults: list[Fault] = []
        self._holds: list[Hold] = []
        self._operations = (*self.spec.operations, *EXTRA_OPERATIONS)
        self._runner: web.AppRunner | None = None
        self.manifest_flow = ManifestFlow(self)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_routes(self.manifest_flow.routes())  # github.com's pages, not the API
        app.router.add_route("*", "/{tail:.*}", self._serve)
        # A test ends while the App may still be mid-request: do not wait 60 s for it.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def close(self) -> None:
        for hold in self._holds:
            hold.release()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeGitHub:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    @property
    def web_url(self) -> str:
        """Where the browser-facing pages are (`GITHUB_URL`): the same server as the API."""
        return self.url

    def app_env(self) -> dict[str, str]:
        """The App's settings (DESIGN.md names) pointing at this fake."""
        return {
            "APP_ID": str(self.app_id),
            "PRIVATE_KEY": self.credentials.private_key,
            "WEBHOOK_SECRET": self.credentials.webhook_secret,
            "GITHUB_API_URL": self.url,
        }

    # -- test controls -----------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_pattern_: str,
        status: int = 500,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
        query: dict[str, str] | None = None,
        skip: int = 0,
        applied: bool = False,
        delay: float = 0.0,
        drop: bool = False,
    ) -> None:
        """Answer the next `times` matching requests with `status` instead of serving them.

        `method` may be "*"; the path pattern takes `*` and spec-style `{name}` holes;
        `query` narrows it to requests with those parameters (`{"page": "2"}`); `skip`
        lets that many matching requests through first. A `bytes` body is sent as it is,
        e.g. to answer with broken JSON. `applied`: serve the request first, so its write
        happens and only the answer fails (a 502 from a proxy after GitHub did the work);
        `delay`: answer that much later (past the App's timeout); `drop`: close the
        connection instead of answering (with `applied`, after the write).
        """
        if body is None:
            body = {
                "message": FAULT_MESSAGES.get(status, "Server Error"),
                "documentation_url": "https://docs.github.com/rest",
            }
        self._faults.append(
            Fault(
                method.upper(),
                path_pattern(path_pattern_),
                status,
                times,
                dict(headers or {}),
                body,
                dict(query or {}),
                skip,
                applied,
                delay,
                drop,
            )
        )

    def hold(self, method: str, path_pattern_: str) -> Hold:
        """Keep matching requests waiting (before any fault or answer) until released."""
        held = Hold(method.upper(), path_pattern(path_pattern_), asyncio.Event(), asyncio.Event())
        self._holds.append(held)
        return held

    def calls(
        self, method: str | None = None, path: str | None = None, operation_id: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests filtered by method, path pattern (as in `fail_next`), operation."""
        regex = path_pattern(path) if path else None
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (regex is None or regex.fullmatch(r.path))
            and (operation_id is None or r.operation_id == operation_id)
        ]

    def issue_token(self, installation_id: int = 1) -> str:
        """An installation token, as if the App had asked for one (for direct tests)."""
        return self.tokens.issue(installation_id).token

    def expire_tokens(self) -> None:
        self.tokens.expire_all()

    # -- the pipeline ------------------------------------------------------------------

    async def _serve(self, request: web.Request) -> web.Response:
        raw = await request.read()
        record = RecordedRequest(
            request.method,
            request.path,
            dict(request.query),
            _json_or_none(raw),
            {k.lower(): v for k, v in request.headers.items()},
        )
        self.requests.append(record)
        if self.latency:
            await asyncio.sleep(self.latency)
        for held in self._holds:
            if held.method in ("*", request.method) and held.pattern.fullmatch(request.path):
                held.arrived.set()
                await held.released.wait()
        headers: dict[str, str] = {}
        codeload = request.path.startswith(CODELOAD + "/")
        fault = self._fault(request)
        if fault is None or fault.applied:
            reply = await self._serve_request(request, raw, record, codeload)
        if fault is not None:
            await asyncio.sleep(fault.delay)
            if fault.drop:
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=204)  # never reaches the App
            reply = fault.reply()
        if not codeload:  # downloads do not count against the API's rate limit
            headers.update(self._rate_limit_headers(record.operation_id))
        headers.update(reply.headers)
        record.status, record.response = reply.status, reply.body
        raw_body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        return web.Response(
            status=reply.status,
            body=raw_body,
            content_type=reply.content_type,
            charset="utf-8" if reply.content_type == "application/json" else None,
            headers=headers,
        )

    def _codeload(self, request: web.Request, record: RecordedRequest) -> Reply:
        """codeload.github.com: the archive a tarball redirect names, for its token's holder."""
        record.operation_id = CODELOAD_OPERATION
        link = self.archive_links.get(request.query.get("token", ""))
        if link is None:
            raise GitHubError(404, "Not Found")
        repo, ref = link
        files = repo.files_at(ref)
        if request.path != f"{CODELOAD}/{repo.full_name}/legacy.tar.gz/{ref}" or files is None:
            raise GitHubError(404, "Not Found")
        prefix = archive_prefix(repo.owner, repo.name, ref)
        return Reply(
            200,
            tarball(files, prefix, ref),
            {"Content-Disposition": f"attachment; filename={prefix.rstrip('/')}.tar.gz"},
            content_type="application/x-gzip",
        )

    async def _serve_request(
        self, request: web.Request, raw: bytes, record: RecordedRequest, codeload: bool
    ) -> Reply:
        try:
            if codeload:
                return self._codeload(request, record)
            return await self._answer(request, raw, record)
        except GitHubError as error:
            return error.reply()
        except Exception:  # a bug in the fake: answer 500 and make the test fail later
            self.internal_errors.append(traceback.format_exc())
            return Reply(500, {"message": "fake GitHub crashed, see internal_errors"})

    def _fault(self, request: web.Request) -> Fault | None:
        for fault in self._faults:
            if (
                fault.method in ("*", request.method)
                and fault.pattern.fullmatch(request.path)
                and all(request.query.get(k) == v for k, v in fault.query.items())
            ):
                if fault.skip:
                    fault.skip -= 1
                    continue
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    async def _answer(self, request: web.Request, raw: bytes, record: RecordedRequest) -> Reply:
        op, params = self._route(request.method, request.path)
        record.operation_id = op.operation_id
        if request.headers.get("X-GitHub-Api-Version") != API_VERSION:
            raise GitHubError(
                400, f"This fake requires the X-GitHub-Api-Version header {API_VERSION!r}"
            )
        installation_id = self._authenticate(op, request.headers.get("Authorization"))
        errors = query_errors(op, dict(request.query))
        if errors:
            raise GitHubError(
                422,
                "Validation Failed",
                [{"resource": "Query", "code": "invalid", "message": e} for e in errors],
            )
        body = self._body(op, raw)
        if op.operation_id == "graphql":
            return Reply(200, graphql.answer(self, installation_id, body))
        context = Context(self, Renderer(self.spec, self, self.url), self.credentials)
        call = Call(params, dict(request.query), body, request.url, installation_id)
        return await HANDLERS[op.operation_id](context, call)

    def _route(self, method: str, path: str) -> tuple[Operation, dict[str, str]]:
        for op in self._operations:
            params = op.match(method, path)
            if params is not None:
                return op, params
        raise GitHubError(404, "Not Found")

    def _authenticate(self, op: Operation, header: str | None) -> int | None:
        """The installation the token belongs to; None for JWT and unauthenticated calls."""
        if op.operation_id in UNAUTHENTICATED_OPERATIONS:
            return None
        if op.operation_id in JWT_OPERATIONS:
            token = credential(header, ("bearer",))
            problem = (
                app_jwt_error(token, self.credentials.public_key, self.app_id)
                if token
                else "A JSON web token could not be decoded"
            )
            if problem:
                raise GitHubError(401, problem)
            return None
        token = credential(header, ("token", "bearer"))
        issued = self.tokens.valid(token) if token else None
        if issued is None:
            raise GitHubError(401, "Bad credentials")
        return issued.installation_id

    def _body(self, op: Operation, raw: bytes) -> Any:
        if not op.has_body:
            return None
        if not raw.strip():
            if op.in_subset and self.spec.body_required(op):
                raise invalid_request(["A request body is required."])
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise GitHubError(400, "Problems parsing JSON") from None
        if op.in_subset:
            errors = schema_errors(self.spec.request_validator(op), body)
            if errors:
                raise invalid_request(errors)
        return body

    def _rate_limit_headers(self, operation_id: str | None) -> dict[str, str]:
        self.rate_limit_used += 1
        return {
            "x-ratelimit-limit": str(RATE_LIMIT),
            "x-ratelimit-remaining": str(max(0, RATE_LIMIT - self.rate_limit_used)),
            "x-ratelimit-used": str(self.rate_limit_used),
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-resource": "graphql" if operation_id == "graphql" else "core",
            "x-github-api-version-selected": API_VERSION,
        }


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        return None
