"""`--format json` (version 2): one object, DESIGN.md's "Command line" shape.

    {"version": 2, "findings": [...], "files": N, "skipped": [{"path", "reason"}],
     "rules": {ID: {"severity", "summary", "fix"}}}

Each finding names its rule by id; the rule's fix pattern is written once,
under `rules`, not once per finding (version 1 repeated it: a file with 60,000
findings made 300 MB of JSON). `files` counts the files analysed, `skipped`
the ones that were not, with why, so a reader cannot take them for clean files.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from bot.formats.jsonstream import ITEMS, dump
from bot.formats.rules import referenced

if TYPE_CHECKING:
    from bot.scan import ScanResult

VERSION = 2


def render(result: ScanResult) -> Iterator[str]:
    findings = result.findings
    document = {
        "version": VERSION,
        "findings": ITEMS,
        "files": result.analysed,
        "skipped": [{"path": r.path, "reason": r.skipped} for r in result.skipped],
        "rules": {
            info.id: {
                "severity": info.severity,
                "summary": info.summary,
                "fix": info.fix.markdown if info.fix else None,
            }
            for info in referenced(findings)
        },
    }
    return dump(document, (finding.to_json() for finding in findings))
