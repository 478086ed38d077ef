"""The App's settings, read once from the environment (DESIGN.md's names, Probot's if it has one).

A missing or unusable setting raises `SettingsError` whose message is one line naming the
variable, so `dropsafe serve` can fail at start instead of at the first webhook.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_PORT = 3000


class SettingsError(Exception):
    """A required setting is missing or invalid; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    app_id: str
    private_key: str
    webhook_secret: str
    api_url: str = DEFAULT_API_URL
    graphql_url: str = DEFAULT_API_URL + "/graphql"
    port: int = DEFAULT_PORT
    redis_url: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        api_url = (env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
        return cls(
            app_id=_required(env, "APP_ID"),
            private_key=_private_key(env),
            webhook_secret=_required(env, "WEBHOOK_SECRET"),
            api_url=api_url,
            graphql_url=env.get("GITHUB_GRAPHQL_URL") or graphql_url_for(api_url),
            port=_port(env.get("PORT")),
            redis_url=env.get("REDIS_URL") or None,
        )


def graphql_url_for(api_url: str) -> str:
    """GitHub Enterprise serves REST at /api/v3 and GraphQL at /api/graphql, github.com /graphql."""
    api_url = api_url.rstrip("/")
    if api_url.endswith("/api/v3"):
        parts = urlsplit(api_url)
        return f"{parts.scheme}://{parts.netloc}/api/graphql"
    return api_url + "/graphql"


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"missing setting: {name} is not set")
    return value


def _private_key(env: Mapping[str, str]) -> str:
    inline = env.get("PRIVATE_KEY", "").strip()
    if inline:
        # Hosting dashboards often store multi-line values with literal "\n" escapes.
        return inline.replace("\\n", "\n")
    path = env.get("PRIVATE_KEY_PATH", "").strip()
    if not path:
        raise SettingsError("missing setting: PRIVATE_KEY or PRIVATE_KEY_PATH is not set")
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise SettingsError(
            f"bad setting: PRIVATE_KEY_PATH={path} cannot be read ({exc.strerror})"
        ) from exc


def _port(raw: str | None) -> int:
    if not raw:
        return DEFAULT_PORT
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise SettingsError(f"bad setting: PORT={raw} is not a port number")
    return port
