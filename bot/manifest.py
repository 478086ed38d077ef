"""The App's manifest (`app.yaml`) as GitHub's manifest flow takes it.

GitHub registers an App from a manifest a browser posts to its "new App" page (docs:
"Registering a GitHub App from a manifest"). The file ships inside the package, so an
installed `dropsafe` can register itself; only the addresses change per deployment: where
GitHub sends webhooks, and where it sends the browser back with the code.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import yaml

MANIFEST_FILE = Path(__file__).with_name("app.yaml")
CALLBACK_PATH = "/setup/callback"
WEBHOOK_PATH = "/api/github/webhooks"


@cache
def _manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(MANIFEST_FILE.read_text(encoding="utf-8"))
    return loaded


def load_manifest() -> dict[str, Any]:
    """A fresh copy of `app.yaml`."""
    return copy.deepcopy(_manifest())


def manifest_for(public_url: str, webhook_url: str | None = None) -> dict[str, Any]:
    """The manifest for a server reachable at `public_url`: webhooks go to `webhook_url`
    (a forwarding service in local development) or to the server itself, and GitHub sends
    the browser back to our callback, and to the status page after an installation."""
    base = public_url.rstrip("/")
    manifest = load_manifest()
    manifest["hook_attributes"] = {
        **manifest.get("hook_attributes", {}),
        "url": webhook_url or base + WEBHOOK_PATH,
    }
    manifest["redirect_url"] = base + CALLBACK_PATH
    manifest["setup_url"] = base + "/"
    return manifest


def new_app_url(github_url: str, state: str, organization: str | None = None) -> str:
    """GitHub's "new App from manifest" page for a personal account or an organization."""
    base = github_url.rstrip("/")
    owner = f"/organizations/{quote(organization, safe='')}" if organization else ""
    return f"{base}{owner}/settings/apps/new?{urlencode({'state': state})}"
