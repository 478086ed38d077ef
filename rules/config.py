"""Per-repository settings from `.github/dropsafe.toml` (or `--config FILE`).

An invalid file must never block a review (DESIGN.md): `load_settings` keeps
every valid setting, falls back to the default for each invalid one, and
returns one readable message per problem for the check-run summary or stderr.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import Any

from rules.scope import Mode

# where a repository keeps its settings (DESIGN.md), for the App and the CLI
CONFIG_PATH = ".github/dropsafe.toml"
FAIL_LEVELS = ("error", "warning", "notice", "never")
RULE_LEVELS = ("off", "notice", "warning", "error")
_KEYS = ("mode", "fail_on", "exclude", "tests", "rules", "comment_on")


@dataclass(frozen=True)
class Settings:
    """`rules` maps a rule id to "off" or the severity that replaces its default.

    `tests` reports test, bench and example code too (DESIGN.md: it is left
    out by default). `rules` is left out of the hash (a mapping is not hashable); equality still
    compares it. It is kept read-only, and pickled as a plain dict (a
    MappingProxyType does not pickle) so settings reach process-pool workers.
    """

    mode: Mode = Mode.ADDED
    fail_on: str = "error"
    exclude: tuple[str, ...] = ()
    rules: Mapping[str, str] = field(default_factory=dict, hash=False)
    # the lowest severity posted as an inline comment; lower ones are check-run annotations only
    comment_on: str = "warning"
    tests: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", MappingProxyType(dict(self.rules)))

    def __reduce__(self) -> tuple[type[Settings], tuple[object, ...]]:
        return Settings, (
            self.mode,
            self.fail_on,
            self.exclude,
            dict(self.rules),
            self.comment_on,
            self.tests,
        )

    def excluded(self, path: str) -> bool:
        """True when a glob of `exclude` matches `path` (relative to the repository root).

        Globs follow ruff's and .gitignore's habits: a glob without "/" matches
        any file or directory name at any depth ("target", "*_generated.rs");
        one with "/" at its start or inside is anchored at the root and matches
        the path or one of its directories ("/target", "src/gen/*.rs"). `*`, `?`
        and `[...]` stay within one name; `**` spans any number of directories
        ("benches/**", "**/generated/*.rs").
        """
        parts = [part for part in path.replace("\\", "/").split("/") if part not in ("", ".")]
        return any(_glob_matches(glob, parts) for glob in self.exclude)

    def severity_of(self, rule_id: str, default: str) -> str | None:
        """The configured severity of a rule, `default` when not configured, None when off."""
        level = self.rules.get(rule_id, default)
        return None if level == "off" else level


def load_settings(text: str | bytes, known_rules: Collection[str]) -> tuple[Settings, list[str]]:
    """Parse a TOML configuration; never raises.

    Returns the settings (defaults where the file is invalid) and one message
    per problem, each naming the key it is about.
    """
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        return Settings(), ["configuration is not UTF-8 text; using the defaults"]
    except tomllib.TOMLDecodeError as exc:
        return Settings(), [f"invalid TOML: {exc}; using the defaults"]

    errors: list[str] = []
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "mode":
            level = _choice(key, value, [m.value for m in Mode], errors)
            if level is not None:
                values["mode"] = Mode(level)
        elif key in ("fail_on", "comment_on"):
            level = _choice(key, value, FAIL_LEVELS, errors)
            if level is not None:
                values[key] = level
        elif key == "exclude":
            values["exclude"] = _globs(value, errors)
        elif key == "tests":
            if isinstance(value, bool):
                values["tests"] = value
            else:
                errors.append(f"tests: expected true or false, got {_toml_type(value)}")
        elif key == "rules":
            values["rules"] = _rule_levels(value, known_rules, errors)
        else:
            errors.append(f"{key}: unknown setting{_did_you_mean(key, _KEYS)}")
    return Settings(**values), errors


def _choice(key: str, value: object, allowed: Collection[str], errors: list[str]) -> str | None:
    if isinstance(value, str) and value in allowed:
        return value
    expected = ", ".join(allowed)
    if isinstance(value, str):
        errors.append(f'{key}: "{value}" is not one of {expected}')
    else:
        errors.append(f"{key}: expected a string ({expected}), got {_toml_type(value)}")
    return None


def _globs(value: object, errors: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list):
        errors.append(f"exclude: expected an array of glob strings, got {_toml_type(value)}")
        return ()
    globs = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            errors.append(f"exclude[{index}]: expected a glob string, got {_toml_type(item)}")
        elif not item.strip("/"):
            errors.append(f'exclude[{index}]: "{item}" is not a glob')
        else:
            globs.append(item)
    return tuple(globs)


def _rule_levels(value: object, known_rules: Collection[str], errors: list[str]) -> dict[str, str]:
    if not isinstance(value, dict):
        errors.append(f"rules: expected a table of rule ids, got {_toml_type(value)}")
        return {}
    levels = {}
    for rule_id, level in value.items():
        if rule_id not in known_rules:
            errors.append(f"rules.{rule_id}: unknown rule{_did_you_mean(rule_id, known_rules)}")
        elif (checked := _choice(f"rules.{rule_id}", level, RULE_LEVELS, errors)) is not None:
            levels[rule_id] = checked
    return levels


def _did_you_mean(word: str, candidates: Collection[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _toml_type(value: object) -> str:
    """TOML's name for a parsed value's type, as the file's author wrote it."""
    names: tuple[tuple[type | tuple[type, ...], str], ...] = (
        (bool, "a boolean"),
        (int, "an integer"),
        (float, "a float"),
        (str, "a string"),
        (list, "an array"),
        (dict, "a table"),
        ((datetime, date, time), "a date-time"),
    )
    return next(name for kind, name in names if isinstance(value, kind))


def _glob_matches(glob: str, parts: list[str]) -> bool:
    glob = glob.removeprefix("./")
    segments = glob.strip("/").split("/")
    if "/" not in glob.rstrip("/"):
        return any(fnmatchcase(part, segments[0]) for part in parts)
    # reach: how many leading path names the glob's segments so far can match
    reach = {0}
    for segment in segments:
        if segment == "**":
            reach = set(range(min(reach), len(parts) + 1))
        else:
            reach = {n + 1 for n in reach if n < len(parts) and fnmatchcase(parts[n], segment)}
        if not reach:
            return False
    # the whole path, or one of its directories (any non-empty prefix)
    return max(reach) > 0
