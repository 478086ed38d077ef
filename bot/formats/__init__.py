"""Report formats of `dropsafe check`: each a pure function from a scan's result to text.

Formats see only `ScanResult` (reports, findings, the source lines they show),
never the file system, so the tests and the App can render findings they built
themselves. Each yields its text in pieces, so a report of tens of thousands
of findings is written as it is made instead of built whole in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from bot.formats import github, json_format, sarif, text

if TYPE_CHECKING:
    from bot.scan import ScanResult

Formatter = Callable[["ScanResult"], Iterable[str]]

FORMATS: dict[str, Formatter] = {
    "text": text.render,
    "json": json_format.render,
    "sarif": sarif.render,
    "github": github.render,
}
