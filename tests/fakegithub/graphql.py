"""The two GraphQL operations the App uses: list a PR's review threads, resolve one.

Not a GraphQL engine: a query is recognised by the field it asks for (`reviewThreads`,
`resolveReviewThread`) and answered in GitHub's shape, including GitHub's way of
reporting errors (HTTP 200 with an `errors` list). A node carries every field the App
may ask for; extra fields in an answer are harmless to a client.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from .state import GitHubState, PullRequest, ReviewComment, ReviewThread

MAX_FIRST = 100  # GitHub's connection limit for `first`


def answer(state: GitHubState, installation_id: int | None, body: Any) -> dict[str, Any]:
    """The JSON body (always sent with status 200, as GitHub does) for one GraphQL request."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return _error("A query attribute must be specified and must be a string.")
    query, variables = body["query"], body.get("variables") or {}
    if "resolveReviewThread" in query:
        return _resolve(state, query, variables)
    if "reviewThreads" in query:
        return _threads(state, installation_id, query, variables)
    return _error("The fake GitHub answers only reviewThreads and resolveReviewThread.")


def _error(
    message: str,
    kind: str | None = None,
    path: list[str] | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message}
    if kind:
        error["type"] = kind
    if path:
        error["path"] = path
    out: dict[str, Any] = {"errors": [error]}
    if data is not None:
        out["data"] = data
    return out


def _argument(
    query: str, field: str, argument: str, variables: dict[str, Any], default: Any = None
) -> Any:
    """The value of `field(... argument: <literal or $variable> ...)` in the query text."""
    found = re.search(rf"{field}\s*\([^)]*?\b{argument}\s*:\s*(\$\w+|\"[^\"]*\"|\d+)", query)
    if not found:
        return default
    token = found.group(1)
    if token.startswith("$"):
        return variables.get(token[1:], default)
    return token.strip('"') if token.startswith('"') else int(token)


def _resolve(state: GitHubState, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    thread_id = _argument(query, "resolveReviewThread", "threadId", variables)
    for repo in state.repos.values():
        for pull in repo.pulls.values():
            for thread in pull.threads:
                if thread.id == thread_id:
                    thread.resolved = True
                    state.resolved_threads.append(thread.id)
                    return {
                        "data": {
                            "resolveReviewThread": {"thread": {"id": thread.id, "isResolved": True}}
                        }
                    }
    return _error(
        f"Could not resolve to a node with the global id of '{thread_id}'",
        "NOT_FOUND",
        ["resolveReviewThread"],
        {"resolveReviewThread": None},
    )


def _threads(
    state: GitHubState, installation_id: int | None, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    owner = _argument(query, "repository", "owner", variables)
    name = _argument(query, "repository", "name", variables)
    number = _argument(query, "pullRequest", "number", variables)
    repo = state.repository(str(owner), str(name))
    if repo is None or repo.installation_id != installation_id:
        return _error(
            f"Could not resolve to a Repository with the name '{owner}/{name}'.",
            "NOT_FOUND",
            ["repository"],
            {"repository": None},
        )
    pull = repo.pulls.get(number) if isinstance(number, int) else None
    if pull is None:
        return _error(
            f"Could not resolve to a PullRequest with the number of {number}.",
            "NOT_FOUND",
            ["repository", "pullRequest"],
            {"repository": {"pullRequest": None}},
        )
    first = _argument(query, "reviewThreads", "first", variables, MAX_FIRST)
    if not isinstance(first, int) or not 1 <= first <= MAX_FIRST:
        return _error(
            f"Requesting {first} records on the `reviewThreads` connection exceeds "
            f"the `first` limit of {MAX_FIRST} records."
        )
    after = _argument(query, "reviewThreads", "after", variables)
    start = _position_after(after)
    if start is None:
        return _error(f"`{after}` does not appear to be a valid cursor.")
    comments_first = _argument(query, "comments", "first", variables, MAX_FIRST)
    return {
        "data": {
            "repository": {
                "pullRequest": {"reviewThreads": _page(pull, first, start, comments_first)}
            }
        }
    }


def _cursor(index: int) -> str:
    return base64.b64encode(f"cursor:v2:{index}".encode()).decode()


def _position_after(cursor: str | None) -> int | None:
    if cursor is None:
        return 0
    try:
        return int(base64.b64decode(cursor).decode().rsplit(":", 1)[1]) + 1
    except (ValueError, IndexError):
        return None


def _page(pull: PullRequest, first: int, start: int, comments_first: int) -> dict[str, Any]:
    chosen = pull.threads[start : start + first]
    end = start + len(chosen) - 1
    return {
        "pageInfo": {
            "hasNextPage": end + 1 < len(pull.threads),
            "endCursor": _cursor(end) if chosen else None,
        },
        "nodes": [_thread(t, comments_first) for t in chosen],
    }


def _thread(thread: ReviewThread, comments_first: int) -> dict[str, Any]:
    return {
        "id": thread.id,
        "isResolved": thread.resolved,
        "isOutdated": False,
        "path": thread.path,
        "line": thread.line,
        "comments": {"nodes": [_comment(c) for c in thread.comments[:comments_first]]},
    }


def _comment(comment: ReviewComment) -> dict[str, Any]:
    """GraphQL's `Bot.login` has no `[bot]` suffix, unlike REST's user login."""
    login = comment.user.removesuffix("[bot]")
    return {
        "id": f"PRRC_{comment.id}",
        "databaseId": comment.id,
        "author": {"login": login},
        "body": comment.body,
        "createdAt": comment.created_at,
    }
