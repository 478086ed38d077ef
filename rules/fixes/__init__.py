"""The fix patterns review comments carry, loaded from the Markdown beside this file.

The Markdown is the single source: the App posts it, and the Rust harness in
`tests/rust/fixpatterns` compiles its ```rust blocks (```rust should_panic blocks
show what not to do) and drops the result in every runtime context. Read with
importlib.resources so the files ship inside the wheel.
"""

from __future__ import annotations

from importlib import resources

from rules.model import FixPattern


def load(name: str) -> FixPattern:
    """The pattern in `<name>.md`: its `# ` heading is the title, the rest the body."""
    text = resources.files(__package__).joinpath(f"{name}.md").read_text(encoding="utf-8")
    heading, _, body = text.partition("\n")
    if not heading.startswith("# "):
        raise ValueError(f"{name}.md must start with a '# ' title line")
    return FixPattern(name=name, title=heading[2:].strip(), markdown=body.strip() + "\n")


def rust_blocks(markdown: str, info: str = "rust") -> list[str]:
    """The bodies of the fenced blocks whose info string is exactly `info`.

    Same reading as the harness's build.rs: a fence opens on a line starting
    with three backticks and closes on a line that is only three backticks.
    """
    found: list[str] = []
    body: list[str] | None = None
    wanted = False
    for line in markdown.splitlines():
        if body is None:
            stripped = line.lstrip()
            if stripped.startswith("```"):
                body, wanted = [], stripped[3:].strip() == info
        elif line.strip() == "```":
            if wanted:
                found.append("\n".join(body) + "\n")
            body = None
        else:
            body.append(line)
    return found


SAFE_DROP = load("safe_drop")
TEMP_FILE_GUARD = load("temp_file_guard")
PATTERNS: tuple[FixPattern, ...] = (SAFE_DROP, TEMP_FILE_GUARD)
