"""A rule's documentation page, written once in its module.

The page uses ruff's sections so `dropsafe explain`, the App's review comments
and the README can each take the part they need.
"""

from __future__ import annotations

import re
from textwrap import dedent

SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead", "References")


def page(*, what: str, why: str, example: str, instead: str, references: str) -> str:
    """Assemble the Markdown page; examples and fixes are Rust code blocks."""
    bodies = (dedent(what), dedent(why), _rust(example), _rust(instead), dedent(references))
    sections = zip(SECTIONS, bodies, strict=True)
    return "\n\n".join(f"## {title}\n{body.strip()}" for title, body in sections) + "\n"


def section(markdown: str, title: str) -> str:
    """The body of one `## title` section of a page ('' when absent)."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, re.S | re.M)
    return match.group(1).strip() if match else ""


def _rust(code: str) -> str:
    return f"```rust\n{dedent(code).strip()}\n```"
