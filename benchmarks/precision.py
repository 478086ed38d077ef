"""Precision and recall of `dropsafe check` on real crates, against labels judged by hand.

    .venv/bin/python benchmarks/precision.py [--registry DIR] [--unlabelled] [--heldout]

`benchmarks/precision/labels.tsv` holds one row per finding the engine reported
on the crates below when the set was made, each judged by reading the code
around it: `tp` (a maintainer would want to know) or `fp`, with the reason.
`benchmarks/precision/recall.tsv` lists the Drop problems found by reading the
crates' `impl Drop` blocks by hand (not with the tool).

The script runs `dropsafe check --format json` over the crates (as a user
would, so every crate-level analysis takes part), matches each finding to its
label by crate, path, rule and line (or, when lines drifted, by the line's code
within a few lines), and prints precision per rule, per severity and overall,
and recall of the hand-found problems. Findings with no label are counted as
unlabelled (listed with `--unlabelled`, to extend the set); labelled findings
the engine no longer reports are counted as gone. Only rules that the set
judges are scored; `unwrap-in-production`, `panic-in-production` and
`drop-untested` notices are outside it.

`--heldout` scores other crates instead, the 509 of `heldout_crates.txt`: the
dependencies Debian installs with the set's packages, and what the packages of
`heldout_packages.txt` install (terminals, GUI and system libraries, more
async crates). It scores error and warning findings against `heldout.tsv`, and
recall against `heldout_recall.tsv`: problems found by reading their
production `impl Drop` blocks before running the tool. They were judged after
the rules were tuned on the set, so they tell whether that tuning carries
over; the findings that led to fixes are kept as `fp` rows (gone).

The crates are Debian's sources (`apt-get install librust-<crate>-dev` unpacks
them under /usr/share/cargo/registry).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent / "precision"
DEFAULT_REGISTRY = Path("/usr/share/cargo/registry")
CRATES = (
    "tokio-1.24.2",
    "tokio-util-0.7.3",
    "hyper-0.14.19",
    "h2-0.3.13",
    "futures-util-0.3.21",
    "futures-channel-0.3.21",
    "async-std-1.12.0",
    "tower-0.4.13",
    "reqwest-0.11.13",
    "mio-0.8.4",
    "crossbeam-channel-0.5.6",
    "crossbeam-utils-0.8.12",
    "crossbeam-epoch-0.9.13",
    "tempfile-3.3.0",
    "rayon-core-1.10.1",
    "async-io-1.11.0",
    "async-executor-1.5.0",
    "async-process-1.6.0",
    "async-task-4.3.0",
    "signal-hook-0.3.14",
    "sharded-slab-0.1.4",
    "thread_local-1.1.4",
    "polling-2.2.0",
    "async-lock-2.6.0",
    "parking_lot-0.12.1",
    "rusqlite-0.28.0",
    "nix-0.26.1",
    "flume-0.10.14",
    "r2d2-0.8.10",
    "quinn-0.9.3",
    "rayon-1.6.1",
    "crossbeam-deque-0.8.1",
    "crossbeam-queue-0.3.8",
    "concurrent-queue-2.0.0",
    "event-listener-2.5.3",
    "blocking-1.3.0",
    "async-broadcast-0.4.1",
    "async-channel-1.8.0",
    "notify-5.0.0",
    "futures-timer-3.0.2",
    "futures-executor-0.3.21",
    "lock_api-0.4.9",
    "parking_lot_core-0.9.3",
    "hashlink-0.8.0",
    "arc-swap-1.5.1",
    "scoped_threadpool-0.1.9",
    "threadpool-1.8.1",
    "scheduled-thread-pool-0.2.6",
    "tokio-stream-0.1.9",
    "once_cell-1.17.0",
    "tracing-0.1.37",
    "tokio-native-tls-0.3.0",
    "git2-0.16.0",
    "openssl-0.10.45",
    "tiny_http-0.12.0",
    "curl-0.4.44",
    "calloop-0.10.4",
    "dbus-0.9.6",
    "subprocess-0.2.4",
    "tokio-postgres-0.7.7",
    "jobserver-0.1.24",
    "ureq-2.6.2",
    "zmq-0.9.2",
    "mio-extras-2.0.5",
    "memmap2-0.5.7",
    "zbus-1.9.2",
)
# rules whose findings the set does not judge (too many notices to read by hand)
UNJUDGED_RULES = frozenset({"unwrap-in-production", "panic-in-production", "drop-untested"})
DRIFT = 8  # lines a labelled finding may move and still match by its code
TARGETS = {"error": 0.9, "warning": 0.8}


@dataclass(frozen=True, slots=True)
class Finding:
    crate: str
    path: str
    line: int
    column: int
    rule: str
    severity: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Label:
    crate: str
    path: str
    line: int
    column: int
    rule: str
    verdict: str
    reason: str
    code: str


def read_tsv(name: str) -> list[dict[str, str]]:
    with open(HERE / name, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def load_labels(name: str = "labels.tsv") -> list[Label]:
    return [
        Label(
            row["crate"],
            row["path"],
            int(row["line"]),
            int(row["column"]),
            row["rule"],
            row["verdict"],
            row["reason"],
            row["code"],
        )
        for row in read_tsv(name)
    ]


def debian_package(crate: str) -> str:
    """`scoped_threadpool-0.1.9` -> `librust-scoped-threadpool-dev`: Debian's name
    for the package that unpacks that crate's source."""
    name = crate.rsplit("-", 1)[0]
    return f"librust-{name.replace('_', '-').lower()}-dev"


def absent(
    registry: Path, crates: Iterable[str], packages: Callable[[list[str]], list[str]]
) -> bool:
    """Whether some of `crates` are not under `registry`; if so, says which and the
    `apt-get` command that installs them (`packages` of the missing ones)."""
    missing = [c for c in crates if not (registry / c).is_dir()]
    if missing:
        print(f"missing crate sources under {registry}: {', '.join(missing)}", file=sys.stderr)
        print(
            f"install them with: apt-get install -y {' '.join(packages(missing))}", file=sys.stderr
        )
    return bool(missing)


def code_at(registry: Path, crate: str, path: str, line: int) -> str:
    lines = (registry / crate / path).read_text(errors="replace").split("\n")
    return " ".join(lines[line - 1].split()) if 0 < line <= len(lines) else ""


def run_engine(registry: Path, crates: list[str]) -> list[Finding]:
    """`dropsafe check --format json` over the crates, paths relative to the registry."""
    command = [sys.executable, "-m", "bot", "check", "--format", "json", *crates]
    done = subprocess.run(command, cwd=registry, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"dropsafe check failed ({done.returncode}): {done.stderr.strip()}")
    findings = []
    for item in json.loads(done.stdout)["findings"]:
        crate, _, path = item["path"].partition("/")
        findings.append(
            Finding(
                crate,
                path,
                item["line"],
                item["column"],
                item["rule"],
                item["severity"],
                code_at(registry, crate, path, item["line"]),
                item["message"],
            )
        )
    return findings


def match(findings: list[Finding], labels: list[Label]) -> dict[Finding, Label]:
    """Each finding to at most one label of the same crate, path and rule: the
    exact line and column first, then the nearest label with the same code
    within DRIFT lines (so an edit above a finding does not orphan its label)."""
    pool: dict[tuple[str, str, str], list[Label]] = defaultdict(list)
    for label in labels:
        pool[(label.crate, label.path, label.rule)].append(label)
    matched: dict[Finding, Label] = {}
    pending = []
    for finding in findings:
        candidates = pool[(finding.crate, finding.path, finding.rule)]
        exact = next(
            (c for c in candidates if (c.line, c.column) == (finding.line, finding.column)), None
        )
        if exact is not None:
            candidates.remove(exact)
            matched[finding] = exact
        else:
            pending.append(finding)
    for finding in pending:
        candidates = [
            c
            for c in pool[(finding.crate, finding.path, finding.rule)]
            if c.code == finding.code and abs(c.line - finding.line) <= DRIFT
        ]
        if candidates:
            best = min(candidates, key=lambda c: abs(c.line - finding.line))
            pool[(finding.crate, finding.path, finding.rule)].remove(best)
            matched[finding] = best
    return matched


def found(problem: dict[str, str], findings: list[Finding]) -> bool:
    """A hand-found problem is recalled when its rule fires on its line (or on
    the same code within DRIFT lines), at any severity."""
    line = int(problem["line"])
    return any(
        f.crate == problem["crate"]
        and f.path == problem["path"]
        and f.rule == problem["rule"]
        and (f.line == line or (f.code == problem["code"] and abs(f.line - line) <= DRIFT))
        for f in findings
    )


def ratio(tp: int, fp: int) -> str:
    return f"{tp / (tp + fp):.2f}" if tp + fp else "  - "


def table(title: str, counts: dict[str, Counter[str]], keys: list[str]) -> list[str]:
    rows = [
        f"| {title} | tp | fp | precision | unlabelled | gone (tp) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key in keys:
        c = counts[key]
        rows.append(
            f"| {key} | {c['tp']} | {c['fp']} | {ratio(c['tp'], c['fp'])} "
            f"| {c['unlabelled']} | {c['gone']} ({c['gone tp']}) |"
        )
    return rows


def tally(
    findings: list[Finding], labels: list[Label], matched: dict[Finding, Label]
) -> tuple[dict[str, Counter[str]], dict[str, Counter[str]]]:
    """Verdicts by rule and by severity: tp, fp, unlabelled, and labels gone."""
    by_rule: dict[str, Counter[str]] = defaultdict(Counter)
    by_severity: dict[str, Counter[str]] = defaultdict(Counter)
    for finding in findings:
        label = matched.get(finding)
        outcome = label.verdict if label is not None else "unlabelled"
        by_rule[finding.rule][outcome] += 1
        by_severity[finding.severity][outcome] += 1
        by_severity["all"][outcome] += 1
    matched_labels = {id(label) for label in matched.values()}
    for label in labels:
        if id(label) not in matched_labels:
            by_rule[label.rule]["gone"] += 1
            by_rule[label.rule][f"gone {label.verdict}"] += 1
            by_severity["all"]["gone"] += 1
            by_severity["all"][f"gone {label.verdict}"] += 1
    return by_rule, by_severity


def heldout(registry: Path, list_unlabelled: bool) -> int:
    """Error and warning precision, and recall, on the crates outside the set."""
    crates = (HERE / "heldout_crates.txt").read_text().split()
    if absent(registry, crates, lambda _: (HERE / "heldout_packages.txt").read_text().split()):
        return 2
    labels = load_labels("heldout.tsv")
    findings = [
        f
        for f in run_engine(registry, crates)
        if f.rule not in UNJUDGED_RULES and f.severity in TARGETS
    ]
    matched = match(findings, labels)
    by_rule, by_severity = tally(findings, labels, matched)
    print(f"held-out crates: {len(crates)}, labelled findings: {len(labels)}")
    print()
    print("\n".join(table("rule", by_rule, sorted(by_rule))))
    print()
    print("\n".join(table("severity", by_severity, [*TARGETS, "all"])))
    print()
    print_recall(read_tsv("heldout_recall.tsv"), findings)
    report(by_severity, [f for f in findings if f not in matched], list_unlabelled)
    return 0


def print_recall(problems: list[dict[str, str]], findings: list[Finding]) -> None:
    """Recall of hand-found problems (at error or warning level when only those are
    given), and the ones missed."""
    missed = [p for p in problems if not found(p, findings)]
    recalled = len(problems) - len(missed)
    print(
        f"recall of hand-found Drop problems: {recalled}/{len(problems)} = "
        f"{recalled / len(problems):.2f} (target >= 0.9)"
    )
    for problem in missed:
        print(
            f"  missed: {problem['crate']}/{problem['path']}:{problem['line']} "
            f"{problem['rule']}: {problem['problem']}"
        )


def report(
    by_severity: dict[str, Counter[str]], unlabelled: list[Finding], list_unlabelled: bool
) -> None:
    """Precision against the targets, and the findings no label judges."""
    for severity, target in TARGETS.items():
        c = by_severity[severity]
        print(f"{severity}-level precision: {ratio(c['tp'], c['fp'])} (target >= {target})")
    if list_unlabelled:
        for f in unlabelled:
            print(
                f"  unlabelled: {f.crate}/{f.path}:{f.line}:{f.column} {f.rule} "
                f"({f.severity}): {f.code}"
            )
    elif unlabelled:
        print(f"{len(unlabelled)} unlabelled findings (--unlabelled lists them)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", type=Path, default=DEFAULT_REGISTRY)
    parser.add_argument("--unlabelled", action="store_true", help="list unlabelled findings")
    parser.add_argument("--heldout", action="store_true", help="score the crates outside the set")
    args = parser.parse_args()
    if absent(args.registry, CRATES, lambda missing: [debian_package(c) for c in missing]):
        return 2
    if args.heldout:
        return heldout(args.registry, args.unlabelled)
    labels = load_labels()
    findings = [f for f in run_engine(args.registry, list(CRATES)) if f.rule not in UNJUDGED_RULES]
    matched = match(findings, labels)
    by_rule, by_severity = tally(findings, labels, matched)

    problems = read_tsv("recall.tsv")

    print(
        f"crates: {len(CRATES)}, labelled findings: {len(labels)}, "
        f"hand-found problems: {len(problems)}"
    )
    print()
    print("\n".join(table("rule", by_rule, sorted(by_rule))))
    print()
    severities = [s for s in ("error", "warning", "notice", "all") if s in by_severity]
    print("\n".join(table("severity", by_severity, severities)))
    print()
    print_recall(problems, findings)
    report(by_severity, [f for f in findings if f not in matched], args.unlabelled)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
