"""pull_request events: review the PR at its head when its code changes or it becomes reviewable."""

from __future__ import annotations

import logging
from typing import Any

from gidgethub import routing, sansio

from bot.jobs import JOB_PAYLOAD, Reviews, job_from_event
from bot.payload import Shape

router = routing.Router()
log = logging.getLogger(__name__)

PAYLOADS: dict[str, Shape] = {
    "pull_request": {
        **JOB_PAYLOAD,
        "pull_request.number": int,
        "pull_request.state": str,
        "pull_request.head.sha": str,
    }
}


@router.register("pull_request", action="opened")
@router.register("pull_request", action="synchronize")
@router.register("pull_request", action="reopened")
@router.register("pull_request", action="ready_for_review")
async def pull_request_changed(
    event: sansio.Event, *args: Any, jobs: Reviews, **kwargs: Any
) -> None:
    pull = event.data["pull_request"]
    if pull.get("draft") or pull.get("state") != "open":
        # Drafts get reviewed on ready_for_review; a closed PR needs no review.
        log.info(
            "pull request skipped",
            extra={
                "delivery_id": event.delivery_id,
                "draft": pull.get("draft"),
                "state": pull.get("state"),
            },
        )
        return
    await jobs.submit(
        job_from_event(event, pull_number=pull["number"], head_sha=pull["head"]["sha"])
    )
