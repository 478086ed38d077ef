"""What the server did lately, for the status page: the last deliveries and the last errors.

Kept in memory, bounded, and free of secrets by construction: a delivery is remembered by
its event, repository, pull request, outcome and duration; an error by its log message and
exception type (our log lines never carry a key, token or request header).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

KEEP = 50


@dataclass
class Delivery:
    delivery_id: str
    event: str  # "pull_request.synchronize"
    repository: str  # "owner/name", or "" when the payload names none
    pull: int | None
    received_at: float  # wall clock, for people
    outcome: str
    started: float  # monotonic, for the duration
    duration: float | None = None


@dataclass(frozen=True)
class ErrorEntry:
    at: float
    message: str


class Activity(logging.Handler):
    """The last `KEEP` deliveries (newest first) and errors; also a logging handler that
    keeps the server's ERROR records."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self._deliveries: OrderedDict[str, Delivery] = OrderedDict()
        self._errors: deque[ErrorEntry] = deque(maxlen=KEEP)

    def received(
        self, delivery_id: str, event: str, data: dict[str, Any] | None, outcome: str
    ) -> None:
        """A delivery answered with `outcome` ("accepted", "refused 401: bad signature")."""
        data = data or {}
        action = data.get("action")
        repository = data.get("repository")
        pull = data.get("pull_request") or data.get("issue") or {}
        self._deliveries[delivery_id] = Delivery(
            delivery_id=delivery_id,
            event=f"{event}.{action}" if isinstance(action, str) else event,
            repository=str(repository.get("full_name", "")) if isinstance(repository, dict) else "",
            pull=pull.get("number") if isinstance(pull, dict) else None,
            received_at=time.time(),
            outcome=outcome,
            started=time.monotonic(),
        )
        self._deliveries.move_to_end(delivery_id)
        while len(self._deliveries) > KEEP:
            self._deliveries.popitem(last=False)

    def finished(self, delivery_id: str, outcome: str) -> None:
        """The work a delivery started ended with `outcome` ("reviewed", "failed: ...")."""
        delivery = self._deliveries.get(delivery_id)
        if delivery is not None:
            delivery.outcome = outcome
            delivery.duration = time.monotonic() - delivery.started

    def deliveries(self) -> list[Delivery]:
        return list(reversed(self._deliveries.values()))

    def errors(self) -> list[ErrorEntry]:
        return list(reversed(self._errors))

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            message += f" ({type(record.exc_info[1]).__name__})"
        self._errors.append(ErrorEntry(record.created, message))
