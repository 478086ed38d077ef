"""The fields a handler reads from a webhook payload, checked before the delivery is answered.

A valid signature proves a delivery came from GitHub, not that it has every field a handler
reads: an older GitHub Enterprise, a hand-edited redelivery or a test tool may leave one
out. Handlers run after the answer, where a `KeyError` is only a traceback in a log; so each
handler module declares the fields it reads (`Shape`) and the server refuses a payload that
lacks one with a 400 that names it, which GitHub shows in the delivery log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Shape = Mapping[str, type]
"""Dotted path -> type of the value there; `a[].b` is the `b` of every item of the list `a`."""

_NAMES = {int: "an integer", str: "a string", list: "a list", dict: "an object"}


def problems(data: Any, shape: Shape) -> list[str]:
    """What is missing or of the wrong type in `data`, one line per field, in `shape`'s order."""
    found: list[str] = []
    for path, kind in shape.items():
        found += _check(data, path, kind)
    return found


def _check(data: Any, path: str, kind: type) -> list[str]:
    out: list[str] = []
    todo: list[tuple[Any, list[str], str]] = [(data, path.split("."), "")]
    while todo:
        value, parts, where = todo.pop()
        if not parts:
            if not _is(value, kind):
                out.append(f"`{where}` is not {_NAMES.get(kind, kind.__name__)}")
            continue
        step, rest = parts[0], parts[1:]
        name = step.removesuffix("[]")
        if not isinstance(value, dict):
            out.append(f"`{where}` is not an object")
            continue
        here = f"{where}.{name}" if where else name
        if value.get(name) is None:
            out.append(f"`{here}` is missing")
        elif step.endswith("[]"):
            items = value[name]
            if not isinstance(items, list):
                out.append(f"`{here}` is not a list")
                continue
            todo += [(item, rest, f"{here}[{i}]") for i, item in reversed(list(enumerate(items)))]
        else:
            todo.append((value[name], rest, here))
    return out


def _is(value: Any, kind: type) -> bool:
    # JSON has one number type and Python's bool is an int: `true` is not a PR number.
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))
