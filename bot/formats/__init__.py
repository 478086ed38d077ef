"""Report formats of `dropsafe check`: each a pure function from a scan's result to text.

Formats see only `ScanResult` (reports, findings, the anchor lines), never the
file system, so the tests and the App can render findings they built themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.formats import github, json_format, sarif, text

if TYPE_CHECKING:
    from bot.scan import ScanResult

Formatter = Callable[["ScanResult"], str]

FORMATS: dict[str, Formatter] = {
    "text": text.render,
    "json": json_format.render,
    "sarif": sarif.render,
    "github": github.render,
}
