"""Our review threads on a PR: find them (GraphQL) and resolve the ones whose finding is gone.

A thread is ours only when its first comment carries our marker AND was written
by our bot; a thread anyone else wrote in is left open, because a person's reply
is a conversation the bot must not close. Nothing here edits or deletes comments.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import gidgethub.abc

from bot.review.comments import parse_marker

log = logging.getLogger(__name__)

THREADS_QUERY = """
query($owner: String!, $repo: String!, $number: Int!, $cursor: String) {
  repository(owner: $owner, name: $repo) {
    pullRequest(number: $number) {
      reviewThreads(first: 100, after: $cursor) {
        pageInfo { hasNextPage endCursor }
        nodes {
          id
          isResolved
          path
          comments(first: 100) { nodes { author { login } body } }
        }
      }
    }
  }
}
"""

RESOLVE_MUTATION = """
mutation($threadId: ID!) {
  resolveReviewThread(input: {threadId: $threadId}) { thread { id isResolved } }
}
"""


@dataclass(frozen=True)
class Thread:
    id: str
    path: str
    resolved: bool
    authors: tuple[str, ...]  # comment authors in order
    fingerprint: str | None  # from the first comment's marker, if any


def bot_logins(app_slug: str) -> frozenset[str]:
    """REST names the App's bot `<slug>[bot]`; GraphQL's `Bot.login` leaves the suffix off."""
    return frozenset({f"{app_slug}[bot]", app_slug})


def thread_from_json(node: dict[str, Any]) -> Thread:
    comments = (node.get("comments") or {}).get("nodes") or []
    authors = tuple(((c.get("author") or {}).get("login") or "") for c in comments)
    marker = parse_marker(comments[0].get("body", "")) if comments else None
    return Thread(
        id=node["id"],
        path=node.get("path") or "",
        resolved=bool(node.get("isResolved")),
        authors=authors,
        fingerprint=marker[1] if marker else None,
    )


def fixed(
    fp: str,
    path: str,
    current: Collection[str],
    analysed: Collection[str],
    pr_paths: Collection[str],
) -> bool:
    """A finding of ours at `path` is gone: this run no longer finds it (`current`).

    Only paths this run analysed, or that are no longer in the PR, count: a file
    skipped this time (too large, excluded) says nothing about whether its
    findings are fixed.
    """
    return fp not in current and (path in analysed or path not in pr_paths)


def to_resolve(
    threads: Iterable[Thread],
    current: Collection[str],
    bots: Collection[str],
    analysed: Collection[str],
    pr_paths: Collection[str],
) -> list[Thread]:
    """Open threads of ours whose finding is gone (`fixed`), that no one else wrote in."""
    return [
        t
        for t in threads
        if not t.resolved
        and t.fingerprint is not None
        and fixed(t.fingerprint, t.path, current, analysed, pr_paths)
        and t.authors
        and all(author in bots for author in t.authors)
    ]


async def list_threads(
    gh: gidgethub.abc.GitHubAPI, endpoint: str, owner: str, repo: str, number: int
) -> list[Thread]:
    threads: list[Thread] = []
    cursor: str | None = None
    while True:
        data = await gh.graphql(
            THREADS_QUERY, endpoint=endpoint, owner=owner, repo=repo, number=number, cursor=cursor
        )
        page = data["repository"]["pullRequest"]["reviewThreads"]
        threads += [thread_from_json(node) for node in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            return threads
        cursor = page["pageInfo"]["endCursor"]


async def resolve(gh: gidgethub.abc.GitHubAPI, endpoint: str, thread: Thread) -> None:
    await gh.graphql(RESOLVE_MUTATION, endpoint=endpoint, threadId=thread.id)
    log.info("resolved review thread", extra={"thread_id": thread.id, "path": thread.path})
