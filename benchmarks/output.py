"""`dropsafe check` output for tens of thousands of findings: bytes and memory per format.

    .venv/bin/python benchmarks/output.py [--megabytes 3.9] [--formats text,json,sarif,github]

Generates one Rust file (default 3.9 MB, about 60,000 findings: small `impl
Drop` blocks whose `drop` unwraps, each finding carrying the safe-Drop fix
pattern), runs the installed command once per format in a child process, and
prints per format: the bytes written to stdout (and per finding), the wall
time, and the child's peak resident memory (getrusage of that child alone),
next to the same scan in a child that formats nothing. The claim to check:
JSON and SARIF stay a few MB, and memory stays what the scan itself needs
whatever the output's size, because each rule's fix pattern is written once
and the findings are written as they are formatted. (JSON version 1 gave
302 MB and 757 MB of memory here.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FORMATS = ("text", "json", "sarif", "github")
SCAN_ONLY = (  # the scan of the CLI, then only the number of findings is printed
    "import sys; from bot.scan import collect_files, scan;"
    " print(len(scan(collect_files(sys.argv[1:])).findings))"
)
UNWRAPS_PER_DROP = 9  # small bodies: the engine's cost per finding stays flat


def drop_heavy_source(megabytes: float) -> bytes:
    """Rust source of about `megabytes` MB: `impl Drop` blocks, each with one
    drop-untested and UNWRAPS_PER_DROP drop-unwrap findings (about 62 bytes
    of source per finding)."""
    blocks, size, n = [], 0, 0
    unwraps = "".join(
        f"        self.slot.take().unwrap(); // release {k} must not fail\n"
        for k in range(UNWRAPS_PER_DROP)
    )
    while size < megabytes * 1e6:
        block = (
            f"/// Guard {n}.\n"
            f"pub struct G{n} {{ slot: Option<u32> }}\n"
            f"impl Drop for G{n} {{\n    fn drop(&mut self) {{\n{unwraps}    }}\n}}\n"
        )
        blocks.append(block)
        size += len(block)
        n += 1
    return "".join(blocks).encode()


def measure(argv: list[str], cwd: str) -> tuple[int, bytes, float, int]:
    """Run `argv`: the bytes of its stdout (read as they come) and the last
    of them, the seconds it took and its peak RSS in KiB."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert child.stdout is not None
    written, last = 0, b""
    while chunk := child.stdout.read(1 << 16):
        written += len(chunk)
        last = chunk
    _, _, usage = os.wait4(child.pid, 0)
    return written, last, time.perf_counter() - start, usage.ru_maxrss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=3.9)
    parser.add_argument("--formats", default=",".join(FORMATS))
    args = parser.parse_args()
    command = [sys.executable, "-m", "bot", "check"]
    with tempfile.TemporaryDirectory(prefix="dropsafe-output-") as scratch:
        path = Path(scratch) / "guards.rs"
        path.write_bytes(drop_heavy_source(args.megabytes))
        print(f"input: {path.stat().st_size / 1e6:.1f} MB of Rust")
        _, count, seconds, peak = measure([sys.executable, "-c", SCAN_ONLY, path.name], scratch)
        findings = int(count)
        alone = f"scan alone: {findings} findings"
        print(f"{alone:42} {seconds:5.1f} s  peak RSS {peak / 1024:6.0f} MB")
        for name in args.formats.split(","):
            argv = [*command, "--format", name, path.name]  # a relative path, as users give
            written, _, seconds, peak = measure(argv, scratch)
            each = written / max(findings, 1)
            print(
                f"--format {name:<7} {written / 1e6:6.1f} MB out {each:4.0f} B/finding"
                f" {seconds:5.1f} s  peak RSS {peak / 1024:6.0f} MB"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
