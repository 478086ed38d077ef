"""An engine step that never ends on a marked file: what the budgets must survive.

It lives in a module of its own so that the engine's worker processes (spawned, not forked)
can import it by name."""

from __future__ import annotations

import time

from rules.config import Settings
from rules.engine import FilePart, SourceFile, analyze_part

STUCK = b"// stuck forever"


def stuck_on_marker(file: SourceFile, settings: Settings) -> FilePart:
    """`analyze_part`, except that a file containing `STUCK` takes an hour."""
    if STUCK in file.source:
        time.sleep(3600)
    return analyze_part(file, settings)
