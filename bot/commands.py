"""`/dropsafe` slash commands in pull-request comments: rescan, rescan full, help.

A rescan costs API quota and posts to the PR, so only people who can push (permission admin or
write, which covers maintain) may ask for one; `author_association` is not enough, it says
nothing about an outside collaborator's access, so the permission endpoint decides.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import gidgethub
from gidgethub import routing, sansio
from gidgethub.abc import GitHubAPI

from bot.github import GITHUB_ERRORS, describe, write_once
from bot.jobs import JOB_PAYLOAD, Reviews, job_from_event
from bot.payload import Shape

router = routing.Router()
log = logging.getLogger(__name__)

PAYLOADS: dict[str, Shape] = {
    "issue_comment": {
        **JOB_PAYLOAD,
        "issue.number": int,
        "comment.id": int,
        "comment.body": str,
        "comment.user.login": str,
    }
}

COMMAND = "/dropsafe"
WRITERS = frozenset({"admin", "write"})
WRITER_ROLES = frozenset({"admin", "maintain", "write"})
ACCEPTED_REACTION = "rocket"
REPLY_MARKER = "<!-- dropsafe:v1 reply-to={comment_id} -->"

HELP = """\
**dropsafe** reviews the Rust lines a pull request touches for Drop-safety and resource-cleanup \
problems. Commands (people with write access):

- `/dropsafe rescan`: review the pull request's head again, on the touched lines
- `/dropsafe rescan full`: review the whole of every changed Rust file
- `/dropsafe help`: this message
"""


def parse(body: str) -> list[str] | None:
    """The words after `/dropsafe` on the comment's first line, or None if it is no command."""
    lines = body.strip().splitlines()
    words = lines[0].split() if lines else []
    if not words or words[0].lower() != COMMAND:
        return None
    return [word.lower() for word in words[1:]]


@router.register("issue_comment", action="created")
async def comment_created(
    event: sansio.Event, gh: GitHubAPI, *args: Any, jobs: Reviews, **kwargs: Any
) -> None:
    issue, comment = event.data["issue"], event.data["comment"]
    if "pull_request" not in issue or comment["user"].get("type") == "Bot":
        return  # an issue, not a PR; or a bot (ourselves included): never answer bots
    words = parse(comment["body"])
    if words is None:
        return
    repo = event.data["repository"]
    where = {"owner": repo["owner"]["login"], "repo": repo["name"], "number": issue["number"]}
    extra = {"delivery_id": event.delivery_id, "command": " ".join(words), **where}
    if words not in (["rescan"], ["rescan", "full"]):
        prefix = "" if words in ([], ["help"]) else f"Unknown command `{' '.join(words)}`.\n\n"
        await _reply(gh, where, comment, prefix + HELP)
        log.info("help sent", extra=extra)
        return
    user = comment["user"]["login"]
    if not await can_write(gh, where, user):
        await _reply(
            gh,
            where,
            comment,
            f"@{user} only people with write access to this repository can ask for a rescan.",
        )
        log.info("command refused", extra={**extra, "user": user})
        return
    full = words == ["rescan", "full"]
    await jobs.submit(
        job_from_event(
            event,
            pull_number=issue["number"],
            full=full,
            reason="rescan full" if full else "rescan",
            force=True,
        )
    )
    try:
        await gh.post(
            "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
            {**where, "comment_id": comment["id"]},
            data={"content": ACCEPTED_REACTION},
        )
    except GITHUB_ERRORS as error:
        # The rescan is queued all the same: the reaction only says so.
        log.warning("could not react to the command", extra={**extra, "reason": describe(error)})


async def can_write(gh: GitHubAPI, where: dict[str, Any], user: str) -> bool:
    """`user` may push to the repository `where` names (`owner`, `repo`)."""
    try:
        level = await gh.getitem(
            "/repos/{owner}/{repo}/collaborators/{username}/permission",
            {**where, "username": user},
        )
    except gidgethub.BadRequest as error:
        if error.status_code == 404:  # not a collaborator at all
            return False
        raise  # a rate limit is no answer about the user: the delivery can be sent again
    return level.get("permission") in WRITERS or level.get("role_name") in WRITER_ROLES


async def _reply(gh: GitHubAPI, where: dict[str, Any], command: dict[str, Any], body: str) -> None:
    """Answer the `command` comment once, however often its delivery is handled (a job retried,
    a delivery sent again, an answer lost): the reply carries a marker naming the command,
    looked for among the PR's comments by a bot before the reply is posted (and again
    when GitHub's answer to the post is lost)."""
    marker = REPLY_MARKER.format(comment_id=command["id"])
    comments = "/repos/{owner}/{repo}/issues/{number}/comments"

    async def send() -> dict[str, Any]:
        posted: dict[str, Any] = await gh.post(
            comments, where, data={"body": f"{body}\n\n{marker}"}
        )
        return posted

    async def find() -> dict[str, Any] | None:
        since = (
            {"since": _minute_before(command["created_at"])} if command.get("created_at") else {}
        )
        async for found in gh.getiter(comments + "{?since}", {**where, **since}):
            if (found.get("user") or {}).get("type") == "Bot" and marker in (
                found.get("body") or ""
            ):
                return dict(found)
        return None

    await write_once(gh, send, find, look_first=True)


def _minute_before(timestamp: str) -> str:
    """An ISO 8601 time a minute earlier: the reply is newer than the command, and GitHub's
    `since` compares to the second, so this margin cannot leave the reply out."""
    when = datetime.fromisoformat(timestamp.replace("Z", "+00:00")) - timedelta(minutes=1)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
