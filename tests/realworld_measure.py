"""The engine against the real-world case set in tests/realworld/.

Each `tests/realworld/*.rs` reproduces, in our own code, a Drop bug or an
accepted Drop pattern from a public project; its header names the thread or
file it comes from and what happened. `// ruleid: <id>` marks a problem line
(the next code line must be flagged by that rule, at any severity); `// ok:
<id>` marks a line reviewers examined and accepted (a false alarm is any error
or warning on it, whichever rule raises it).

    .venv/bin/python tests/realworld_measure.py    # prints the figures and misses
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from test_rule_fixtures import annotated_lines

from rules.engine import SourceFile, analyze

CASES = Path(__file__).parent / "realworld"
_SOURCE = re.compile(r"^// Source: https://github\.com/([\w.-]+/[\w.-]+)", re.M)
ALARMS = frozenset({"error", "warning"})


@dataclass
class Figures:
    """What the engine found: problems found and missed, accepted lines kept
    quiet and alarmed, and the projects the cases come from."""

    cases: int = 0
    projects: set[str] = field(default_factory=set)
    found: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    quiet: list[str] = field(default_factory=list)
    alarmed: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return len(self.found) / max(1, len(self.found) + len(self.missed))

    @property
    def false_alarm_rate(self) -> float:
        return len(self.alarmed) / max(1, len(self.quiet) + len(self.alarmed))

    def summary(self) -> str:
        lines = [
            f"{self.cases} cases from {len(self.projects)} projects",
            f"recall: {len(self.found)}/{len(self.found) + len(self.missed)}"
            f" marked problems found ({self.recall:.2f})",
            f"false alarms: {len(self.alarmed)}/{len(self.quiet) + len(self.alarmed)}"
            f" accepted lines with an error or warning ({self.false_alarm_rate:.2f})",
        ]
        lines += [f"  missed: {miss}" for miss in self.missed]
        lines += [f"  false alarm: {alarm}" for alarm in self.alarmed]
        return "\n".join(lines)


def measure(cases: Path = CASES) -> Figures:
    figures = Figures()
    for case in sorted(cases.glob("*.rs")):
        source = case.read_bytes()
        text = source.decode()
        figures.cases += 1
        figures.projects.update(_SOURCE.findall(text))
        # a path outside tests/: the cases are production code of their projects
        report = analyze(SourceFile(f"src/{case.stem.replace('-', '_')}.rs", source))
        flagged = {(f.rule, f.line) for f in report.findings}
        alarms: dict[int, list[str]] = {}
        for finding in report.findings:
            if finding.severity in ALARMS:
                alarms.setdefault(finding.line, []).append(f"{finding.rule}: {finding.message}")
        marked = annotated_lines(text)
        for rule, lines in marked["ruleid"].items():
            for line in sorted(lines):
                where = f"{case.name}:{line} {rule}"
                (figures.found if (rule, line) in flagged else figures.missed).append(where)
        accepted = sorted(set().union(*marked["ok"].values())) if marked["ok"] else []
        for line in accepted:
            if line in alarms:
                figures.alarmed.append(f"{case.name}:{line} {'; '.join(alarms[line])}")
            else:
                figures.quiet.append(f"{case.name}:{line}")
    return figures


if __name__ == "__main__":
    print(measure().summary())
