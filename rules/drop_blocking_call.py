"""drop-blocking-call: PLACEHOLDER, being written (replace this whole module)."""

from __future__ import annotations

from collections.abc import Iterator

from rules.context import FileContext
from rules.model import Hit, Rule


def check(ctx: FileContext) -> Iterator[Hit]:
    yield from ()


RULE = Rule(
    id="drop-blocking-call",
    severity="warning",
    checklist=(),
    message="PLACEHOLDER",
    needles=(),
    check=check,
    docs="PLACEHOLDER",
)
