"""JSON documents whose one big array is written item by item.

A scan can hold tens of thousands of findings. `json.dumps` of the whole
document would build it all as one string (and, indented, most of it
whitespace); here the document around the array is dumped once, with a
placeholder where the array goes, and the items follow one compact line each,
so memory stays that of one item and the output stays greppable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

ITEMS = "\x00dropsafe:items\x00"  # a string no report can contain as a whole JSON value


def dump(document: object, items: Iterable[object]) -> Iterator[str]:
    """`document` as indented JSON with the value `ITEMS` replaced by the array of `items`."""
    head, tail = json.dumps(document, indent=2, ensure_ascii=False).split(json.dumps(ITEMS))
    line = head[head.rfind("\n") + 1 :]
    indent = " " * (len(line) - len(line.lstrip(" ")))
    yield head + "["
    separator = "\n"
    for item in items:
        yield f"{separator}{indent}  {json.dumps(item, ensure_ascii=False, separators=(',', ':'))}"
        separator = ",\n"
    yield ("]" if separator == "\n" else f"\n{indent}]") + tail + "\n"
