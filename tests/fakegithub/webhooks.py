"""GitHub's real webhook payloads (`tests/data/github/webhooks/`) and how GitHub delivers them."""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import json
import uuid
from typing import Any

from .schema import REFERENCE_DIR
from .state import IssueComment, Repository

WEBHOOK_DIR = REFERENCE_DIR / "webhooks"


@functools.cache
def _payload_text(name: str) -> str:
    return (WEBHOOK_DIR / f"{name}.json").read_text(encoding="utf-8")


def load_webhook(name: str) -> dict[str, Any]:
    """A fresh copy of a real payload, by file stem: "pull_request.opened", "ping", ..."""
    payload: dict[str, Any] = json.loads(_payload_text(name))
    return payload


def sign(body: bytes, secret: str) -> str:
    """`X-Hub-Signature-256`: "sha256=" + HMAC-SHA256 hex digest of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_headers(
    event: str, body: bytes, secret: str, delivery_id: str | None = None
) -> dict[str, str]:
    """The headers GitHub sends with a delivery (a fresh GUID unless one is given)."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/dropsafe-tests",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body, secret),
    }


def pr_comment_payload(
    comment: IssueComment, repo: Repository, user_type: str = "User"
) -> dict[str, Any]:
    """`issue_comment.created` for `comment` on pull request `comment.issue_number`.

    Derived: GitHub publishes no example of a comment on a PR, so this takes the real
    comment-on-an-issue payload and adds `issue.pull_request` as the webhook schema
    defines it (url, html_url, diff_url, patch_url, merged_at).
    """
    payload = load_webhook("issue_comment.created")
    web = f"https://github.com/{repo.full_name}/pull/{comment.issue_number}"
    api = f"https://api.github.com/repos/{repo.full_name}"
    issue = payload["issue"]
    issue.update(
        number=comment.issue_number, html_url=web, url=f"{api}/issues/{comment.issue_number}"
    )
    issue["pull_request"] = {
        "url": f"{api}/pulls/{comment.issue_number}",
        "html_url": web,
        "diff_url": f"{web}.diff",
        "patch_url": f"{web}.patch",
        "merged_at": None,
    }
    payload["comment"].update(
        id=comment.id,
        body=comment.body,
        html_url=f"{web}#issuecomment-{comment.id}",
        issue_url=issue["url"],
        created_at=comment.created_at,
        updated_at=comment.created_at,
    )
    payload["comment"]["user"].update(login=comment.user, type=user_type)
    payload["sender"] = copy.deepcopy(payload["comment"]["user"])
    payload["repository"].update(
        name=repo.name,
        full_name=repo.full_name,
        id=repo.id,
        private=repo.private,
        default_branch=repo.default_branch,
    )
    payload["repository"]["owner"]["login"] = repo.owner
    payload["installation"]["id"] = repo.installation_id
    return payload
