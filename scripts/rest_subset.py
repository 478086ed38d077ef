"""Regenerate `tests/data/github/rest-subset.json` with more operations of GitHub's description.

The fake GitHub validates requests against GitHub's own REST description. It is 13 MB, so
the tests keep only the operations the App calls and every component they reference. To add
one: `npm pack @octokit/openapi@23.0.2`, unpack it, and run

    python scripts/rest_subset.py package/generated/api.github.com.json "GET /app/installations"

Existing operations are kept; `x-octokit` keys are dropped and `info` stays upstream's, as
`tests/data/github/README.md` describes. Not used by the tests themselves.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

SUBSET = Path(__file__).resolve().parents[1] / "tests" / "data" / "github" / "rest-subset.json"


def refs(node: Any) -> set[str]:
    """Every `$ref` target inside `node`."""
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str):
                found.add(ref)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def strip_octokit(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: strip_octokit(v) for k, v in node.items() if k != "x-octokit"}
    if isinstance(node, list):
        return [strip_octokit(v) for v in node]
    return node


def extract(full: dict[str, Any], subset: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
    """`subset` with the `wanted` operations ("METHOD /path") of `full` and their components."""
    paths: dict[str, Any] = subset["paths"]
    for operation in wanted:
        method, path = operation.split(" ", 1)
        paths.setdefault(path, {})[method.lower()] = strip_octokit(
            full["paths"][path][method.lower()]
        )
        shared = [k for k in full["paths"][path] if k == "parameters"]
        for key in shared:
            paths[path][key] = strip_octokit(full["paths"][path][key])
    pending = refs(paths)
    seen: set[str] = set()
    components: dict[str, dict[str, Any]] = subset.setdefault("components", {})
    while pending:
        ref = pending.pop()
        if ref in seen or not ref.startswith("#/components/"):
            continue
        seen.add(ref)
        _, _, kind, name = ref.split("/", 3)
        value = strip_octokit(full["components"][kind][name])
        components.setdefault(kind, {})[name] = value
        pending |= refs(value)
    listed = subset["x-subset"]["operations"]
    for operation in wanted:
        method, path = operation.split(" ", 1)
        label = f"{operation} ({full['paths'][path][method.lower()]['operationId']})"
        if label not in listed:
            listed.append(label)
    return subset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("description", help="api.github.com.json from @octokit/openapi")
    parser.add_argument("operations", nargs="+", help='e.g. "GET /app/installations"')
    args = parser.parse_args()
    full = json.loads(Path(args.description).read_text(encoding="utf-8"))
    subset = json.loads(SUBSET.read_text(encoding="utf-8"))
    extract(full, subset, args.operations)
    SUBSET.write_text(json.dumps(subset, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
