"""Engine time on adversarial Rust next to ordinary code: is it linear?

    .venv/bin/python benchmarks/adversarial.py [--scale X] [--only NAME]

For each shape of tests/adversarial.py (deep method chains, nested spawns,
closures and blocks, unclosed parentheses in a test file, 100,000-character
lines, thousands of `impl Drop` blocks, the same on one line, thousands of
allow comments, random bytes) and for ordinary code, analyses a file
built at the shape's size and at twice that size, and prints seconds per MB at
both sizes and the growth factor of the time when the input doubles: about 2
is linear, about 4 is quadratic. `--scale` multiplies every size (0.1 for a
quick look). One process, one core; the median of `--repeats` runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from adversarial import NORMAL, SHAPES, Shape

from rules.config import Settings
from rules.engine import SourceFile, analyze_files
from rules.rust.context import is_test_path


def seconds(shape: Shape, n: int, repeats: int) -> tuple[float, int, int]:
    """(median seconds, bytes, findings) of analysing `shape.build(n)`."""
    source = shape.build(n)
    # A test file is set aside unparsed unless test code is analysed (`tests =
    # true`): that is the slow path a shape under tests/ is about.
    settings = Settings(tests=is_test_path(shape.path))
    samples = []
    findings = 0
    for _ in range(repeats):
        start = time.perf_counter()
        (report,) = analyze_files([SourceFile(shape.path, source)], settings)
        samples.append(time.perf_counter() - start)
        findings = len(report.findings)
    return statistics.median(samples), len(source), findings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every size")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", help="run the shapes whose name contains this")
    args = parser.parse_args()
    print(f"{'shape':26} {'n':>8} {'MB':>6} {'s':>7} {'s/MB':>7} {'2n: s/MB':>9} {'growth':>7}")
    for shape in (NORMAL, *SHAPES):
        if args.only and args.only not in shape.name:
            continue
        n = max(1, round(shape.n * args.scale))
        small, size, findings = seconds(shape, n, args.repeats)
        large, double, _ = seconds(shape, 2 * n, args.repeats)
        print(
            f"{shape.name:26} {n:8} {size / 1e6:6.2f} {small:7.2f} {small / (size / 1e6):7.2f}"
            f" {large / (double / 1e6):9.2f} {large / max(small, 1e-9):6.1f}x"
            f"  ({findings} findings)",
            flush=True,
        )
    print("growth: time at 2n / time at n (2x is linear, 4x quadratic)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
