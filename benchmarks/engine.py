"""Engine speed on real crates: `dropsafe check` against tree-sitter parsing alone.

    .venv/bin/python benchmarks/engine.py [DIR ...] [--repeats N]

Default corpus: Debian's sources (under /usr/share/cargo/registry) of
async- and Drop-heavy crates: hyper, h2, tokio, tokio-util, futures-util,
async-std, tower, reqwest, mio, crossbeam, parking_lot, tempfile, rayon-core.
Each is a crate with its Cargo.toml, so the crate model (module trees, calls
followed from Drop across files) is part of what is measured.

Prints the wall time (median of --repeats) of parsing every file in one
process, and of the whole check (`bot.scan.scan`: every rule, the crate model,
reach) with the default two worker processes and with one, and the two ratios
issue 7 sets targets for: at most 1.1x with two workers, 1.8x with one. The
crate phase alone (linking the files into crates, reach from Drop) is timed
too: it must stay a small, linear share.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bot.scan import Target, collect_files, find_manifests, scan
from rules.engine import Analysis, SourceFile, link
from rules.rust.parsing import parse

REGISTRY = Path("/usr/share/cargo/registry")
# pinned to the versions Debian 12 ships, so that installing other crates
# (`precision.py --heldout`'s) leaves the corpus as it is
CRATES = (
    "async-std-1.12.0",
    "crossbeam-0.8.1",
    "crossbeam-channel-0.5.6",
    "crossbeam-deque-0.8.1",
    "crossbeam-epoch-0.9.13",
    "crossbeam-queue-0.3.8",
    "crossbeam-utils-0.8.12",
    "futures-util-0.3.21",
    "h2-0.3.13",
    "hyper-0.14.19",
    "mio-0.6.23",
    "mio-0.8.4",
    "mio-extras-2.0.5",
    "parking_lot-0.12.1",
    "rayon-core-1.10.1",
    "reqwest-0.11.13",
    "tempfile-3.3.0",
    "tokio-1.24.2",
    "tokio-util-0.7.3",
    "tower-0.4.13",
)
TARGETS = {2: 1.1, 1: 1.8}


def default_corpus() -> list[Path]:
    if not REGISTRY.is_dir():
        return []
    return sorted(REGISTRY / name for name in CRATES if (REGISTRY / name).is_dir())


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def crate_phase_seconds(targets: list[Target]) -> float:
    """Linking alone (crate model, calls and Drop rules on what Drop reaches), in one process."""
    analysis = Analysis()
    parts = [
        analysis.add(SourceFile(t.path, Path(t.location).read_bytes(), t.touched)) for t in targets
    ]
    # the manifests `dropsafe check` reads: those above the files (not every one beside them)
    manifests = find_manifests(targets)
    start = time.perf_counter()
    link(parts, None, manifests, details=analysis)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    dirs = args.dirs or default_corpus()
    root = Path(*Path(dirs[0]).resolve().parts[:-1]) if dirs else REGISTRY
    targets = collect_files([str(d.resolve()) for d in dirs], cwd=str(root)) if dirs else []
    if not targets:
        print("no .rs files: give crate directories (or install Debian's librust-*-dev)")
        return 2
    sources = [Path(target.location).read_bytes() for target in targets]
    megabytes = sum(map(len, sources)) / 1e6
    print(f"corpus: {len(dirs)} crates, {len(targets)} files, {megabytes:.1f} MB")
    parse_only = median_seconds(lambda: [parse(source) for source in sources], args.repeats)
    print(f"tree-sitter parse, one process: {parse_only:6.2f} s")
    for workers, target in TARGETS.items():
        seconds = median_seconds(lambda w=workers: scan(targets, workers=w), args.repeats)
        ratio = seconds / parse_only
        label = f"dropsafe check, {workers} worker{'s' if workers > 1 else ''}:"
        print(f"{label:32}{seconds:6.2f} s  ratio {ratio:.2f}x (target <= {target}x)")
    findings = len(scan(targets, workers=2).findings)
    crate_phase = crate_phase_seconds(targets)
    print(f"crate phase (link, reach):      {crate_phase:6.2f} s  ({findings} findings)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
