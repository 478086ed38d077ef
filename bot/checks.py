"""check_run and check_suite events: GitHub's "Re-run" buttons and new check suites.

Both name the PRs they concern in `pull_requests`; a suite or run that names none (a push to a
branch without a PR, or a fork's PR) has nothing for us to review.
"""

from __future__ import annotations

import logging
from typing import Any

from gidgethub import routing, sansio

from bot.jobs import JOB_PAYLOAD, Reviews, job_from_event
from bot.payload import Shape

router = routing.Router()
log = logging.getLogger(__name__)

PAYLOADS: dict[str, Shape] = {
    event: {**JOB_PAYLOAD, f"{event}.head_sha": str, f"{event}.pull_requests[].number": int}
    for event in ("check_run", "check_suite")
}


@router.register("check_run", action="rerequested")
async def check_run_rerequested(
    event: sansio.Event, *args: Any, jobs: Reviews, **kwargs: Any
) -> None:
    await _review_listed(event, event.data["check_run"], jobs, force=True)


@router.register("check_suite", action="requested")
@router.register("check_suite", action="rerequested")
async def check_suite_requested(
    event: sansio.Event, *args: Any, jobs: Reviews, **kwargs: Any
) -> None:
    # A new suite (a push) is reviewed once per head; "Re-run all" asks for a new verdict.
    force = event.data["action"] == "rerequested"
    await _review_listed(event, event.data["check_suite"], jobs, force=force)


async def _review_listed(
    event: sansio.Event, check: dict[str, Any], jobs: Reviews, *, force: bool
) -> None:
    pulls = check["pull_requests"]
    if not pulls:
        log.info("no pull request to review", extra={"delivery_id": event.delivery_id})
    for pull in pulls:
        await jobs.submit(
            job_from_event(
                event, pull_number=pull["number"], head_sha=check["head_sha"], force=force
            )
        )
