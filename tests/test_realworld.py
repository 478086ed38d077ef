"""The real-world case set (tests/realworld/, see realworld_measure): recall of
the marked Drop problems and false alarms on the lines reviewers accepted."""

import pytest
from realworld_measure import CASES, measure

from rules.rust.parsing import parse, walk

RECALL_TARGET = 0.9
FALSE_ALARM_LIMIT = 0.1


@pytest.fixture(scope="module")
def figures():
    return measure()


def test_the_set_is_broad_enough(figures):
    assert figures.cases >= 25
    assert len(figures.projects) >= 15
    assert len(figures.found) + len(figures.missed) >= 25, "too few marked problems"
    assert len(figures.quiet) + len(figures.alarmed) >= 20, "too few accepted lines"


def test_recall_of_marked_problems(figures):
    print(figures.summary())
    assert figures.recall >= RECALL_TARGET, figures.summary()


def test_false_alarms_on_accepted_lines(figures):
    assert figures.false_alarm_rate <= FALSE_ALARM_LIMIT, figures.summary()


@pytest.mark.parametrize("case", sorted(CASES.glob("*.rs")), ids=lambda path: path.stem)
def test_case_is_valid_rust_with_a_source(case):
    text = case.read_text(encoding="utf-8")
    assert text.startswith("// Source: https://github.com/"), "the header names its thread"
    assert "// ruleid:" in text or "// ok:" in text, "the case marks its lines"
    tree = parse(text.encode())
    errors = [n.start_point for n in walk(tree.root_node) if n.type == "ERROR" or n.is_missing]
    assert errors == []


def test_readme_states_the_current_figures(figures):
    readme = (CASES.parent.parent / "README.md").read_text(encoding="utf-8")
    total = len(figures.found) + len(figures.missed)
    accepted = len(figures.quiet) + len(figures.alarmed)
    stated = (
        f"{len(figures.found)} of {total} marked problems found ({figures.recall:.2f}),\n"
        f"{len(figures.alarmed)} of {accepted} accepted lines alarmed"
        f" ({figures.false_alarm_rate:.2f})"
    )
    assert stated in readme, f"update README's figures: {stated!r}"
    assert f"{figures.cases} small Rust files" in readme
    assert f"one of {len(figures.projects)} public projects" in readme
