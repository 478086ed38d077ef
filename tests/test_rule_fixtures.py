"""Every rule against its annotated fixture (semgrep's convention).

`// ruleid: <id>` on its own line: the next code line must be flagged by <id>;
`// ok: <id>`: it must not be. The set of lines a rule flags must equal the set
annotated for it, so an unannotated finding fails as surely as a missed one.
"""

import re
from pathlib import Path

import pytest

from rules.catalogue import RULES
from rules.engine import SourceFile, analyze
from rules.rust.parsing import parse, walk

FIXTURES = Path(__file__).parent / "fixtures" / "rules"
ANNOTATION = re.compile(r"^\s*//\s*(ruleid|ok):\s*(.+?)\s*$")


def annotated_lines(text: str) -> dict[str, dict[str, set[int]]]:
    """{'ruleid'|'ok': {rule id: {1-based target lines}}}."""
    found: dict[str, dict[str, set[int]]] = {"ruleid": {}, "ok": {}}
    pending: list[tuple[str, list[str]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = ANNOTATION.match(line)
        if match:
            pending.append((match.group(1), [i.strip() for i in match.group(2).split(",")]))
            continue
        for kind, ids in pending:
            for rule_id in ids:
                found[kind].setdefault(rule_id, set()).add(number)
        pending = []
    return found


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.id)
def test_rule_matches_its_fixture(rule):
    fixture = FIXTURES / f"{rule.id}.rs"
    source = fixture.read_bytes()
    marked = annotated_lines(source.decode())
    expected = marked["ruleid"].get(rule.id, set())
    quiet = marked["ok"].get(rule.id, set())
    assert len(expected) >= 3, "a fixture needs at least three flagged cases"
    assert len(quiet) >= 3, "a fixture needs at least three near-misses"

    # A path outside tests/ so that only the fixture's own test items are test code.
    report = analyze(SourceFile(f"src/{rule.id.replace('-', '_')}.rs", source))
    flagged = {f.line for f in report.findings if f.rule == rule.id}

    assert sorted(flagged - expected) == [], "flagged but not annotated `ruleid`"
    assert sorted(expected - flagged) == [], "annotated `ruleid` but not flagged"
    assert not flagged & quiet


@pytest.mark.parametrize("fixture", sorted(FIXTURES.glob("*.rs")), ids=lambda p: p.stem)
def test_fixture_is_valid_rust(fixture):
    tree = parse(fixture.read_bytes())
    errors = [n.start_point for n in walk(tree.root_node) if n.type == "ERROR" or n.is_missing]
    assert errors == []
    assert not tree.root_node.has_error


def test_every_rule_has_a_fixture():
    assert {p.stem for p in FIXTURES.glob("*.rs")} >= {rule.id for rule in RULES}
