"""The review's writes that must land once, even when GitHub's answer to one is lost.

A POST answered with a 5xx, a timeout or a dropped connection may or may not have been
applied; the GitHub client raises `OutcomeUnknown` instead of sending it again
(`bot.github`). Each write here knows how to find what it would have done, so a lost answer
costs a look, never a second check run, a second review or doubled annotations:

- a check run carries a fresh `external_id`, looked for among the head's `dropsafe` runs;
- a review carries a hidden marker with a fresh token, looked for among the PR's reviews by
  our bot on that commit;
- annotations are appended by PATCH (GitHub's rule for check runs), so a batch whose answer
  was lost is sent again only when the run's `annotations_count` shows it did not land.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

import gidgethub.abc

from bot.github import not_repeatable, write_once
from bot.review import checkrun, fetch

REVIEW_MARKER = "<!-- dropsafe:v1 review={token} -->"


def new_token() -> str:
    """Names one write (a check run's `external_id`, a review's marker): unique to it."""
    return uuid.uuid4().hex


async def create_check_run(
    gh: gidgethub.abc.GitHubAPI,
    owner: str,
    repo: str,
    head: str,
    payload: dict[str, object] | None = None,
) -> dict[str, Any]:
    """POST the check run for `head` (default: in progress); the created run."""
    token = new_token()
    payload = {**(payload or checkrun.create_payload(head)), "external_id": token}

    async def send() -> dict[str, Any]:
        created: dict[str, Any] = await gh.post(
            "/repos/{owner}/{repo}/check-runs", fetch.repo_vars(owner, repo), data=payload
        )
        return created

    async def find() -> dict[str, Any] | None:
        runs = gh.getiter(
            "/repos/{owner}/{repo}/commits/{ref}/check-runs{?check_name,filter}",
            {
                **fetch.repo_vars(owner, repo),
                "ref": head,
                "check_name": checkrun.NAME,
                "filter": "all",
            },
            iterable_key="check_runs",
        )
        async for run in runs:
            if run.get("external_id") == token:
                return dict(run)
        return None

    return await write_once(gh, send, find)


async def post_review(
    gh: gidgethub.abc.GitHubAPI,
    owner: str,
    repo: str,
    number: int,
    review: dict[str, Any],
    bots: Collection[str],
) -> dict[str, Any]:
    """POST `review` (a `review_payload`) with this post's marker added; the posted review."""
    marker = REVIEW_MARKER.format(token=new_token())
    payload = {**review, "body": f"{review['body']}\n\n{marker}"}

    async def send() -> dict[str, Any]:
        posted: dict[str, Any] = await gh.post(
            "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
            fetch.repo_vars(owner, repo, pull_number=number),
            data=payload,
        )
        return posted

    async def find() -> dict[str, Any] | None:
        for found in await fetch.list_reviews(gh, owner, repo, number):
            if (
                (found.get("user") or {}).get("login") in bots
                and found.get("commit_id") == review["commit_id"]
                and marker in (found.get("body") or "")
            ):
                return dict(found)
        return None

    return await write_once(gh, send, find)


async def update_check_run(
    gh: gidgethub.abc.GitHubAPI, run_url: str, payload: dict[str, Any], annotated: int
) -> int:
    """PATCH the run with `payload`; `annotated` is how many annotations it holds, and the
    count after this update is returned. A PATCH without annotations only sets fields, so
    the client may repeat it by itself; one with annotations is repeated only if they did
    not land."""
    batch = len((payload.get("output") or {}).get("annotations") or ())
    if not batch:
        await gh.patch(run_url, data=payload)
        return annotated

    async def send() -> int:
        with not_repeatable():
            await gh.patch(run_url, data=payload)
        return annotated + batch

    async def find() -> int | None:
        run = await gh.getitem(run_url)
        count = (run.get("output") or {}).get("annotations_count")
        return annotated + batch if count == annotated + batch else None

    return await write_once(gh, send, find)
