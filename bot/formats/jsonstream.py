"""JSON documents whose one big array is written item by item.

A scan can hold tens of thousands of findings. `json.dumps` of the whole
document would build it all as one string; here the document around the
array is dumped once, with a placeholder where the array goes, and the items
follow as they are made, so memory stays that of one item. The document is
compact (an indent is bytes on every line for nobody: `jq .` shows it
indented), but each item starts a line of its own, so the output stays
greppable and a diff of two reports is a diff of findings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

ITEMS = "\x00dropsafe:items\x00"  # a string no report can contain as a whole JSON value


def dump(document: object, items: Iterable[object]) -> Iterator[str]:
    """`document` as compact JSON with the value `ITEMS` replaced by the array
    of `items`, one item a line."""
    head, tail = compact(document).split(json.dumps(ITEMS))
    yield head + "["
    separator = "\n"
    for item in items:
        yield separator + compact(item)
        separator = ",\n"
    yield "\n]" + tail + "\n"


def compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
