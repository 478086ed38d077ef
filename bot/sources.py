"""Reading a file to analyse, or saying why it is not analysed.

Nothing is skipped silently (DESIGN.md, "Command line"): every reason here
ends up as the report's `skipped`, a warning on stderr and an entry in every
format. The size limit is the engine's own (`rules.engine.MAX_SOURCE_BYTES`).
"""

from __future__ import annotations

# Like git: a NUL byte in the first 8000 bytes makes a file binary.
BINARY_PROBE = 8000


def read_source(path: str, location: str) -> tuple[bytes, str | None]:
    """The bytes of the file at `location` (shown as `path`), and why it is
    skipped, if it is: only `.rs` files are Rust (a directory walk finds
    nothing else, but a path given by name may be anything)."""
    if not path.endswith(".rs"):
        return b"", "not a Rust file (no .rs extension)"
    try:
        with open(location, "rb") as file:  # no Path: thousands of files per scan
            source = file.read()
    except OSError as exc:
        return b"", f"cannot read it ({exc.strerror})"
    if b"\0" in source[:BINARY_PROBE]:
        return b"", "binary file (it contains NUL bytes)"
    return source, None
