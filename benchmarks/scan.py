"""`dropsafe check` over a large tree: one worker vs every core, against parsing alone.

    .venv/bin/python benchmarks/scan.py [DIR]   (default: Debian's crate sources)

The claim to check: with a process pool, two cores scan a large tree (all
rules) faster than one core can merely parse it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from bot.scan import collect_files, scan
from rules.rust.parsing import parse

DEFAULT_CORPUS = Path("/usr/share/cargo/registry")


def median_seconds(run, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    targets = collect_files([str(args.root)], cwd=str(args.root))
    sources = [Path(target.location).read_bytes() for target in targets]
    megabytes = sum(map(len, sources)) / 1e6
    cores = os.cpu_count() or 1
    print(f"corpus: {len(targets)} files, {megabytes:.1f} MB, {cores} cores")
    parse_only = median_seconds(lambda: [parse(source) for source in sources], args.repeats)
    print(f"parse only, 1 core:            {megabytes / parse_only:6.2f} MB/s ({parse_only:.2f} s)")
    for workers in sorted({1, cores}):
        seconds = median_seconds(lambda w=workers: scan(targets, workers=w), args.repeats)
        label = f"check, {workers} worker{'s' if workers > 1 else ''}:"
        print(f"{label:31}{megabytes / seconds:6.2f} MB/s ({seconds:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
