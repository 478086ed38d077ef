"""`--format json`: one object, `{"findings": [...], "files": N, "skipped": [...]}`.

`findings` and `files` are DESIGN.md's keys; `skipped` lists the files not
analysed (with why) so a machine reader cannot mistake them for clean files.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.scan import ScanResult


def render(result: ScanResult) -> str:
    document = {
        "findings": [finding.to_json() for finding in result.findings],
        "files": len(result.reports),
        "skipped": [{"path": r.path, "reason": r.skipped} for r in result.skipped],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
