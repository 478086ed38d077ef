"""Log lines for people and for log pipelines, never carrying a credential.

`LOG_FORMAT=text` (the default) writes `key=value` fields after the message, greppable;
`LOG_FORMAT=json` writes one JSON object a line (python-json-logger), for Loki, Datadog,
CloudWatch and the like. Either way every line logged inside a job names the job: its
delivery id, repository and pull request (`JobContext`), so all lines of one review can be
found from a GitHub delivery or a PR.

What is never written: a field whose name says it holds a credential or request headers
(`token`, `authorization`, `private_key`, `secret`, `headers`, ...) is dropped, and
anything token-shaped left in the line (GitHub tokens, JWTs, PEM keys, `Authorization`
values) is masked, so a careless `extra=` or an exception that quotes a request cannot leak.
"""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from bot.jobs import DeliveryIdFilter

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"

SECRET_FIELD = re.compile(
    r"token|authorization|secret|private_key|password|passwd|jwt|cookie|headers|pem",
    re.IGNORECASE,
)
"""Names of `extra=` fields that are dropped from every line."""

SECRET_VALUE = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
    r"|\bgh[pousr]_[\w-]{20,}"
    r"|\bgithub_pat_[A-Za-z0-9_]{20,}"
    r"|\beyJ[\w-]+\.[\w-]+\.[\w-]+"
    r"|(?<=[Tt]oken )[\w.-]{16,}|(?<=[Bb]earer )[\w.-]{16,}"
    r"|(?<=[?&]token=)[^&#\s'\"]+",
    re.DOTALL,
)
"""Credentials by their shape: PEM private keys, GitHub tokens, JWTs, Authorization values,
and a URL's `token=` (codeload's archive links carry one)."""
MASK = "[redacted]"

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def mask(text: str) -> str:
    return SECRET_VALUE.sub(MASK, text)


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The `extra=` fields of a record (what the standard attributes are not)."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class Redact(logging.Filter):
    """Drops fields named like credentials or headers from a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in extra_fields(record):
            if SECRET_FIELD.search(name):
                delattr(record, name)
        return True


_JOB: contextvars.ContextVar[dict[str, object] | None] = contextvars.ContextVar(
    "log_job", default=None
)


@contextmanager
def job_context(repository: str, pull_number: int) -> Iterator[None]:
    """Lines logged inside this block (and the tasks it starts) name the job's repository and
    pull request; the delivery id comes from `bot.jobs.DELIVERY_ID`."""
    token = _JOB.set({"repository": repository, "pull_number": pull_number})
    try:
        yield
    finally:
        _JOB.reset(token)


class JobContext(DeliveryIdFilter):
    """Adds the current job's delivery id, repository and PR to records that lack them."""

    def filter(self, record: logging.LogRecord) -> bool:
        super().filter(record)
        for name, value in (_JOB.get() or {}).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class KeyValueFormatter(logging.Formatter):
    """Appends a record's `extra=` fields as key=value pairs, so logs stay greppable."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = (f"{k}={v!r}" for k, v in extra_fields(record).items())
        return mask(" ".join([line, *fields]))


class JsonLineFormatter(JsonFormatter):
    """One JSON object a line: time, level, logger, message and the `extra=` fields."""

    def __init__(self) -> None:
        super().__init__(
            JSON_FIELDS,
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_default=str,
        )

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


def handler(log_format: str = "text", stream: Any = None) -> logging.Handler:
    """A stream handler (stderr by default) writing `log_format` lines, redacted, with the
    job's fields."""
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}")
    out = logging.StreamHandler(stream)
    out.setFormatter(
        JsonLineFormatter() if log_format == "json" else KeyValueFormatter(TEXT_FORMAT)
    )
    out.addFilter(JobContext())
    out.addFilter(Redact())
    return out


def configure(log_format: str = "text") -> None:
    """Root logging for `dropsafe serve` and `dropsafe worker`: INFO, one handler."""
    logging.basicConfig(level=logging.INFO, handlers=[handler(log_format)], force=True)
