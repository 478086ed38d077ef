"""github.com's side of the App manifest flow, as the fake serves it to a browser.

GitHub's docs ("Registering a GitHub App from a manifest"): the user's browser POSTs a form
with one field, `manifest` (JSON), to `/settings/apps/new?state=S` (or
`/organizations/ORG/settings/apps/new?state=S`); GitHub shows the App for confirmation,
creates it, and redirects to the manifest's `redirect_url` with `?code=C&state=S`. The code
is exchanged once, within an hour, at `POST /app-manifests/{code}/conversions`; a used or
unknown code answers 404. The fake checks the manifest the way GitHub's form does (JSON, a
`url`, a webhook URL when the hook is active) and keeps each posted manifest for the tests.
"""

from __future__ import annotations

import html
import json
import secrets
from typing import Any

from aiohttp import web
from yarl import URL

from .state import GitHubState, PostedManifest

NEW_APP_PATHS = ("/settings/apps/new", "/organizations/{org}/settings/apps/new")
CONFIRM_PATH = "/settings/apps/new/confirm"


class ManifestFlow:
    """The pages and the one-time codes; `posted` lists every manifest received."""

    def __init__(self, state: GitHubState) -> None:
        self.state = state
        self.posted: list[PostedManifest] = []
        self._pending: dict[str, PostedManifest] = {}  # confirmation token -> manifest

    def routes(self) -> list[web.RouteDef]:
        return [
            *(web.post(path, self.new_app) for path in NEW_APP_PATHS),
            web.post(CONFIRM_PATH, self.confirm),
        ]

    async def new_app(self, request: web.Request) -> web.Response:
        form = await request.post()
        try:
            manifest = json.loads(str(form.get("manifest", "")))
        except ValueError:
            return _page(422, "Invalid manifest", "The manifest is not valid JSON.")
        problems = manifest_problems(manifest)
        if problems:
            return _page(422, "Invalid manifest", "; ".join(problems))
        posted = PostedManifest(manifest, request.match_info.get("org"), request.query.get("state"))
        self.posted.append(posted)
        token = secrets.token_hex(8)
        self._pending[token] = posted
        owner = posted.organization or "your personal account"
        body = (
            f"<p>Create GitHub App <b>{html.escape(str(manifest.get('name', '')))}</b> "
            f"for {html.escape(owner)}</p>"
            f'<form method="post" action="{CONFIRM_PATH}">'
            f'<input type="hidden" name="token" value="{token}">'
            '<button type="submit">Create GitHub App</button></form>'
        )
        return _page(200, "Create GitHub App", body, raw=True)

    async def confirm(self, request: web.Request) -> web.Response:
        form = await request.post()
        posted = self._pending.pop(str(form.get("token", "")), None)
        if posted is None:
            return _page(404, "Not Found", "This confirmation is unknown or was used.")
        code = self.state.issue_manifest_code(posted)
        target = URL(str(posted.manifest["redirect_url"])).update_query(
            {"code": code, **({"state": posted.state} if posted.state is not None else {})}
        )
        raise web.HTTPFound(str(target))


def manifest_problems(manifest: Any) -> list[str]:
    """What GitHub's manifest form refuses (docs: "GitHub App manifest parameters")."""
    if not isinstance(manifest, dict):
        return ["the manifest is not a JSON object"]
    problems = []
    if not manifest.get("url"):
        problems.append("`url` is required")
    hook = manifest.get("hook_attributes") or {}
    if hook.get("active", True) and not hook.get("url"):
        problems.append("`hook_attributes.url` is required for an active webhook")
    if not manifest.get("redirect_url"):
        problems.append("`redirect_url` is needed to receive the code")
    return problems


def _page(status: int, title: str, body: str, *, raw: bool = False) -> web.Response:
    content = body if raw else f"<p>{html.escape(body)}</p>"
    return web.Response(
        status=status,
        text=f"<!doctype html><title>{html.escape(title)}</title>{content}",
        content_type="text/html",
    )
