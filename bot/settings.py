"""The App's settings, read once from the environment (DESIGN.md's names, Probot's if it has one).

A missing or unusable setting raises `SettingsError` whose message is one line naming the
variable (never its value when it is a secret), so `dropsafe serve` can fail at start
instead of at the first webhook: an App id that is not a number and a private key that is
not an RSA PEM are caught here; a key GitHub refuses for that id, by `bot.server` at start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

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
        api_url = api_url_of(env)
        return cls(
            app_id=_app_id(env),
            private_key=_private_key(env),
            webhook_secret=_required(env, "WEBHOOK_SECRET"),
            api_url=api_url,
            graphql_url=env.get("GITHUB_GRAPHQL_URL") or graphql_url_for(api_url),
            port=listen_port(env),
            redis_url=env.get("REDIS_URL") or None,
        )


def graphql_url_for(api_url: str) -> str:
    """GitHub Enterprise serves REST at /api/v3 and GraphQL at /api/graphql, github.com /graphql."""
    api_url = api_url.rstrip("/")
    if api_url.endswith("/api/v3"):
        parts = urlsplit(api_url)
        return f"{parts.scheme}://{parts.netloc}/api/graphql"
    return api_url + "/graphql"


def api_url_of(env: Mapping[str, str]) -> str:
    """GITHUB_API_URL without a trailing slash, default github.com's."""
    return (env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")


def is_registered(env: Mapping[str, str]) -> bool:
    """An App id is configured: without one, `dropsafe serve` offers to register the App."""
    return bool(env.get("APP_ID", "").strip())


def listen_port(env: Mapping[str, str]) -> int:
    """PORT, default 3000."""
    return _port(env.get("PORT"))


def _app_id(env: Mapping[str, str]) -> str:
    value = _required(env, "APP_ID")
    if not value.isdigit():
        raise SettingsError(
            f"bad setting: APP_ID={value} is not a number (the App id on the App's settings page)"
        )
    return value


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"missing setting: {name} is not set")
    return value


def _private_key(env: Mapping[str, str]) -> str:
    inline = env.get("PRIVATE_KEY", "").strip()
    if inline:
        # Hosting dashboards often store multi-line values with literal "\n" escapes.
        return _rsa_pem(inline.replace("\\n", "\n"), "PRIVATE_KEY")
    path = env.get("PRIVATE_KEY_PATH", "").strip()
    if not path:
        raise SettingsError("missing setting: PRIVATE_KEY or PRIVATE_KEY_PATH is not set")
    try:
        pem = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not text"
        raise SettingsError(
            f"bad setting: PRIVATE_KEY_PATH={path} cannot be read ({reason})"
        ) from exc
    return _rsa_pem(pem, f"PRIVATE_KEY_PATH={path}")


def _rsa_pem(pem: str, setting: str) -> str:
    """`pem` when it is an unencrypted RSA private key in PEM, as GitHub generates for Apps
    (RS256 signs the App's JWTs); the error names the setting, never the key."""
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise SettingsError(
            f"bad setting: {setting} is not a PEM private key (GitHub's .pem file, unencrypted)"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SettingsError(f"bad setting: {setting} is not an RSA key (GitHub Apps use RSA)")
    return pem


def metrics_port(env: Mapping[str, str]) -> int | None:
    """METRICS_PORT: where `dropsafe worker` serves /metrics; unset, nowhere."""
    raw = env.get("METRICS_PORT")
    return _port(raw, "METRICS_PORT") if raw else None


def _port(raw: str | None, name: str = "PORT") -> int:
    if not raw:
        return DEFAULT_PORT
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise SettingsError(f"bad setting: {name}={raw} is not a port number")
    return port
