"""Engine throughput on a real Rust corpus: parsing alone vs parsing plus every rule.

    .venv/bin/python benchmarks/engine.py [DIR ...]   (default: Debian's crate sources)

Prints MB/s (median of several runs, one core) and their ratio; the target is
all rules costing at most 1.5x parsing alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from rules.engine import MAX_SOURCE_BYTES, SourceFile, analyze
from rules.rust.parsing import parse

DEFAULT_CORPUS = Path("/usr/share/cargo/registry")


def load_corpus(roots: list[Path]) -> list[SourceFile]:
    files = []
    for root in roots:
        for path in sorted(root.rglob("*.rs")):
            source = path.read_bytes()
            if len(source) <= MAX_SOURCE_BYTES:
                files.append(SourceFile(str(path.relative_to(root)), source))
    return files


def timed(run, files: list[SourceFile], repeats: int) -> float:
    """Median seconds of `repeats` passes over the corpus."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for file in files:
            run(file)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="*", type=Path, default=[DEFAULT_CORPUS])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    files = load_corpus(args.roots)
    if not files:
        print(f"no .rs files under {', '.join(map(str, args.roots))}", file=sys.stderr)
        return 2
    megabytes = sum(len(f.source) for f in files) / 1e6
    parse_seconds = timed(lambda f: parse(f.source), files, args.repeats)
    engine_seconds = timed(analyze, files, args.repeats)
    findings = sum(len(analyze(f).findings) for f in files)
    print(f"corpus: {len(files)} files, {megabytes:.1f} MB, {findings} findings")
    print(f"parse only:        {megabytes / parse_seconds:6.2f} MB/s  ({parse_seconds:.2f} s)")
    print(f"parse + all rules: {megabytes / engine_seconds:6.2f} MB/s  ({engine_seconds:.2f} s)")
    print(f"ratio (engine / parse time): {engine_seconds / parse_seconds:.2f}x  (target <= 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
