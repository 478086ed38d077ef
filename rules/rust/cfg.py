"""Which of two cfg twins a crate's default build compiles.

A crate may define one function (or import one name) twice under opposite
features: `#[cfg(feature = "spin")] fn wait_lock` beside
`#[cfg(not(feature = "spin"))] fn wait_lock`. To a resolver blind to cfg the
call is ambiguous, which means no edge, and a Drop that reaches the lock's
`unwrap` through it goes unseen. Cargo builds a dependency with its default
features unless asked otherwise, so the twin that build compiles is the one
to follow. Only `feature = ".."` is known, and `test` (off); every other
atom (`unix`, `loom`, `debug_assertions`) is unknown, and an unknown
predicate rules nothing out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_CFG_ATTRIBUTE = re.compile(r"^#!?\[\s*cfg\s*\((.*)\)\s*\]$", re.DOTALL)
_TOKENS = re.compile(r'"(?:\\.|[^"\\])*"|\w+|[(),=]')


def predicate(attribute: str) -> str | None:
    """What a `#[cfg(..)]` (or `#![cfg(..)]`) attribute's text asks; None for another one."""
    match = _CFG_ATTRIBUTE.match(attribute)
    return match[1] if match else None


def joined(outer: str, own: str) -> str:
    """Both predicates (an item's own inside a cfg'd `impl` or module)."""
    return f"{outer}, {own}" if outer and own else outer or own


def compiled(predicates: str, features: frozenset[str] | None) -> bool | None:
    """Whether a build with `features`, not for tests, compiles an item with
    these predicates (`joined`): None when that depends on something else
    (`unix`), or on features when they are unknown (`None`)."""
    if not predicates:
        return True
    tokens = _TOKENS.findall(predicates)
    # one frame per open predicate list: (operator, values of its members)
    frames: list[tuple[str, list[bool | None]]] = [("all", [])]
    index = 0
    while index < len(tokens):
        token = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        if following == "(":
            frames.append((token, []))
            index += 2
            continue
        if token == ")":
            if len(frames) == 1:
                return None  # unbalanced: not a predicate this reads
            operator, members = frames.pop()
            frames[-1][1].append(_combine(operator, members))
        elif following == "=":
            value = tokens[index + 2] if index + 2 < len(tokens) else ""
            frames[-1][1].append(_feature(token, value, features))
            index += 3
            continue
        elif token != ",":
            frames[-1][1].append(False if token == "test" else None)
        index += 1
    return _combine(*frames[0]) if len(frames) == 1 else None


def _feature(name: str, value: str, features: frozenset[str] | None) -> bool | None:
    if name != "feature" or features is None or not value.startswith('"'):
        return None
    return value.strip('"') in features


def _combine(operator: str, members: list[bool | None]) -> bool | None:
    """Three-valued `all`, `any`, `not` (any other operator: unknown)."""
    if operator == "all":
        return False if False in members else (None if None in members else True)
    if operator == "any":
        return True if True in members else (None if None in members else False)
    if operator == "not" and len(members) == 1:
        return None if members[0] is None else not members[0]
    return None


def default_features(table: object) -> frozenset[str]:
    """The features a `[features]` table turns on by default, followed through
    the features they enable. `dep:x` enables no feature; `x/f` enables the
    implicit feature of optional dependency `x`, `x?/f` does not."""
    if not isinstance(table, Mapping):
        return frozenset()
    enabled: set[str] = set()
    default = table.get("default")
    pending = list(default) if isinstance(default, list) else []
    while pending:
        feature = pending.pop()
        if not isinstance(feature, str) or feature.startswith("dep:"):
            continue
        if "/" in feature:
            dependency = feature.split("/", 1)[0]
            if dependency.endswith("?"):
                continue
            feature = dependency
        if feature not in enabled:
            enabled.add(feature)
            more = table.get(feature)
            pending.extend(more if isinstance(more, list) else [])
    return frozenset(enabled)
