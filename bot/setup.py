"""First run: register the App on GitHub from its manifest, the way Probot apps do.

`dropsafe serve` without an `APP_ID` serves a page at `/` with a button that posts
`app.yaml` (with this server's addresses) to GitHub's "new App from manifest" page, for a
personal account or an organization. GitHub creates the App and sends the browser back to
`/setup/callback?code=..&state=..`; the code is exchanged once for the App's id, private key
and webhook secret, which are written to `.env` (mode 0600, other lines kept) and take
effect at once. `state` ties the callback to a setup page this server rendered for this
browser (a cookie): a forged or replayed callback is refused with a page saying so.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path

import aiohttp
import cachetools
import dotenv
import gidgethub
from aiohttp import web

from bot.github import GITHUB_ERRORS, GitHubClient, describe
from bot.manifest import manifest_for, new_app_url
from bot.pages import page
from bot.settings import DEFAULT_API_URL, Settings, SettingsError, api_url_of

DEFAULT_GITHUB_URL = "https://github.com"
STATE_COOKIE = "dropsafe_setup_state"
STATE_LIFETIME = 60 * 60  # GitHub's codes expire after an hour as well
ENV_FILE = ".env"


@dataclass(frozen=True)
class SetupSettings:
    """What the setup flow needs before the App exists (DESIGN.md's names)."""

    github_url: str = DEFAULT_GITHUB_URL
    api_url: str = DEFAULT_API_URL
    webhook_proxy_url: str | None = None  # a forwarding service's URL, in local development
    public_url: str | None = None  # where GitHub and browsers reach this server
    env_dir: Path = Path()  # where `.env` is written: the working directory

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SetupSettings:
        env = os.environ if environ is None else environ
        return cls(
            github_url=(env.get("GITHUB_URL") or DEFAULT_GITHUB_URL).rstrip("/"),
            api_url=api_url_of(env),
            webhook_proxy_url=env.get("WEBHOOK_PROXY_URL") or None,
            public_url=env.get("PUBLIC_URL") or None,
            env_dir=Path.cwd(),
        )


Register = Callable[[Settings], None]
SessionOf = Callable[[], aiohttp.ClientSession | None]


class SetupFlow:
    """The setup page and the callback; `register` switches the running server to the new App."""

    def __init__(self, settings: SetupSettings, register: Register, session: SessionOf) -> None:
        self.settings, self._register, self._session = settings, register, session
        self._states: cachetools.TTLCache[str, bool] = cachetools.TTLCache(
            maxsize=1024, ttl=STATE_LIFETIME
        )
        self.registered: dict[str, str] | None = None  # the new App's settings, once written

    async def page(self, request: web.Request) -> web.Response:
        """GET /: what will happen, and the button (for an organization: `?org=NAME`)."""
        organization = request.query.get("org", "").strip() or None
        state = secrets.token_urlsafe(24)
        self._states[state] = True
        base = self.settings.public_url or str(request.url.origin())
        manifest = manifest_for(base, self.settings.webhook_proxy_url)
        target = new_app_url(self.settings.github_url, state, organization)
        owner = (
            f"the organization <b>{escape(organization)}</b>" if organization else "your account"
        )
        body = f"""
<p>dropsafe is not registered with GitHub yet. The button below sends its manifest
(<code>app.yaml</code>: name, events, least-privilege permissions) to GitHub, which shows
you the App to confirm and creates it for {owner}. GitHub then sends you back here; the App's
id, private key and webhook secret are written to <code>.env</code> and used at once.</p>
<p>Webhooks will go to <code>{escape(manifest["hook_attributes"]["url"])}</code>.</p>
<form method="post" action="{escape(target)}">
<input type="hidden" name="manifest" value="{escape(json.dumps(manifest))}">
<button type="submit">Register dropsafe on GitHub</button></form>
<form method="get" action="/"><label>For an organization instead:
<input name="org" placeholder="organization" value="{escape(organization or "")}"></label>
<button type="submit">Use this organization</button></form>
"""
        response = page("Set up dropsafe", body)
        response.set_cookie(
            STATE_COOKIE, state, max_age=STATE_LIFETIME, httponly=True, samesite="Lax"
        )
        return response

    async def callback(self, request: web.Request) -> web.Response:
        """GET /setup/callback: exchange the code once, write `.env`, start serving."""
        state = request.query.get("state", "")
        fresh = self._states.pop(state, None) is not None
        if not fresh or request.cookies.get(STATE_COOKIE) != state:
            return _refused(
                "This setup link is not valid: it was used already, has expired, or did not "
                "come from this server's setup page."
            )
        if self.registered is not None:
            return _refused("dropsafe is registered already; restart it to register again.")
        code = request.query.get("code", "")
        if not code.isalnum():
            return _refused("The callback carries no code from GitHub.")
        try:
            app = await self._convert(code)
        except gidgethub.HTTPException as error:
            return _refused(f"GitHub refused the code ({describe(error)}): it is used or expired.")
        except GITHUB_ERRORS as error:
            return _refused(f"GitHub could not be reached: {describe(error)}", status=502)
        values = {
            "APP_ID": str(app["id"]),
            "PRIVATE_KEY": str(app["pem"]),
            "WEBHOOK_SECRET": str(app["webhook_secret"]),
            "APP_SLUG": str(app["slug"]),
            "APP_HTML_URL": str(app["html_url"]),
        }
        try:
            settings = Settings.from_env(
                {**os.environ, "GITHUB_API_URL": self.settings.api_url, **values}
            )
        except SettingsError as error:
            return _refused(f"GitHub's answer is not usable: {error}", status=502)
        path = write_env(self.settings.env_dir / ENV_FILE, values)
        self.registered = values
        self._register(settings)
        install = f"{values['APP_HTML_URL'].rstrip('/')}/installations/new"
        body = f"""
<p>GitHub created the App <b>{escape(str(app.get("name") or values["APP_SLUG"]))}</b>.
Its id, private key and webhook secret are in <code>{escape(str(path))}</code>
(readable by you alone) and in use now.</p>
<p>Next: choose the repositories it reviews.</p>
<p><a class="button" href="{escape(install)}">Install the App</a></p>
<p class="muted">Then open a pull request that touches Rust; <a href="/">the status page</a>
lists each delivery.</p>
"""
        return page("dropsafe is registered", body)

    async def _convert(self, code: str) -> dict[str, object]:
        session = self._session()
        assert session is not None, "callbacks arrive once the server runs"
        client = GitHubClient(session, base_url=self.settings.api_url)
        answer: dict[str, object] = await client.post(f"/app-manifests/{code}/conversions", data={})
        return answer


def write_env(path: Path, values: Mapping[str, str]) -> Path:
    """Set `values` in the dotenv file `path`, creating it readable by the owner alone; lines
    already there (a WEBHOOK_PROXY_URL, comments) are kept."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(descriptor)
    for name, value in values.items():
        dotenv.set_key(path, name, value, quote_mode="always")
    path.chmod(0o600)
    return path


def _refused(message: str, *, status: int = 400) -> web.Response:
    body = f'<p class="error">{escape(message)}</p><p><a href="/">Start again</a></p>'
    return page("Setup refused", body, status=status)
