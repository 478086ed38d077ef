"""GitHub's REST description (`rest-subset.json`) as a router and validator for the fake.

Everything the fake checks about a request's shape comes from GitHub's own published
description, not from our reading of the docs: path templates, path and query parameter
types, request-body schemas. OpenAPI 3.0 `nullable` is rewritten into JSON Schema first
(as in `validate_example.py`), or every `null` in a response would fail validation.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

# copied into the repository with its license notice (tests/data/github/README.md)
REFERENCE_DIR = Path(__file__).resolve().parents[1] / "data" / "github"
SPEC_PATH = REFERENCE_DIR / "rest-subset.json"
DOC_URI = "urn:github-rest-subset"
MAX_PER_PAGE = 100


def openapi30_to_jsonschema(node: Any) -> Any:
    """A deep copy with OpenAPI 3.0 `nullable: true` turned into JSON Schema's null type."""
    if isinstance(node, list):
        return [openapi30_to_jsonschema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: openapi30_to_jsonschema(v) for k, v in node.items()}
    if out.pop("nullable", False) is True:
        if "type" in out:
            kind = out["type"]
            out["type"] = [*(kind if isinstance(kind, list) else [kind]), "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [{"type": "null"}, out]}
    return out


def _pointer(*parts: str) -> str:
    escaped = [p.replace("~", "~0").replace("/", "~1") for p in parts]
    return DOC_URI + "#/" + quote("/".join(escaped), safe="/~")


@dataclass(frozen=True)
class Parameter:
    name: str
    where: str  # "path" or "query"
    schema: dict[str, Any]
    multi_segment: bool = False


@dataclass(frozen=True, eq=False)  # identity equality: each operation exists once
class Operation:
    """One route: a spec operation, or one of the few the fake serves outside the subset."""

    operation_id: str
    method: str
    template: str
    parameters: tuple[Parameter, ...] = ()
    has_body: bool = False
    in_subset: bool = True
    regex: re.Pattern[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", _template_regex(self.template, self.parameters))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        found = self.regex.fullmatch(path)
        return found.groupdict() if found else None

    def query_parameters(self) -> dict[str, Parameter]:
        return {p.name: p for p in self.parameters if p.where == "query"}


def _template_regex(template: str, parameters: tuple[Parameter, ...]) -> re.Pattern[str]:
    """`{name}` matches one segment, or several for `x-multi-segment`; integers only digits.

    A non-numeric `pull_number` then falls through to 404, as on GitHub.
    """
    by_name = {p.name: p for p in parameters if p.where == "path"}
    out, last = [], 0
    for hole in re.finditer(r"\{(\w+)\}", template):
        out.append(re.escape(template[last : hole.start()]))
        param = by_name.get(hole.group(1))
        if param is not None and param.multi_segment:
            pattern = ".+"
        elif param is not None and param.schema.get("type") == "integer":
            pattern = r"\d+"
        else:
            pattern = "[^/]+"
        out.append(f"(?P<{hole.group(1)}>{pattern})")
        last = hole.end()
    out.append(re.escape(template[last:]))
    return re.compile("".join(out))


class RestSpec:
    """The subset, loaded once: operations, validators, and the spec's own examples."""

    def __init__(self, path: Path = SPEC_PATH) -> None:
        self.raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        self.doc: dict[str, Any] = openapi30_to_jsonschema(self.raw)
        self.registry: Registry[Any] = Registry().with_resource(
            DOC_URI, DRAFT4.create_resource(self.doc)
        )
        self.operations = tuple(self._operations())
        self._validators: dict[tuple[str, str], Draft4Validator | None] = {}

    def _operations(self) -> list[Operation]:
        ops = []
        for template, methods in self.doc["paths"].items():
            for method, op in methods.items():
                params = tuple(self._parameter(p) for p in op.get("parameters", []))
                ops.append(
                    Operation(
                        op["operationId"],
                        method.upper(),
                        template,
                        params,
                        has_body="requestBody" in op,
                    )
                )
        return ops

    def _parameter(self, raw: dict[str, Any]) -> Parameter:
        if "$ref" in raw:
            raw = self.doc["components"]["parameters"][raw["$ref"].rsplit("/", 1)[-1]]
        return Parameter(
            raw["name"], raw["in"], raw.get("schema", {}), bool(raw.get("x-multi-segment"))
        )

    def _operation_node(self, op: Operation) -> dict[str, Any]:
        node: dict[str, Any] = self.doc["paths"][op.template][op.method.lower()]
        return node

    def body_required(self, op: Operation) -> bool:
        return bool(self._operation_node(op).get("requestBody", {}).get("required"))

    def request_validator(self, op: Operation) -> Draft4Validator:
        key = (op.operation_id, "request")
        if key not in self._validators:
            ptr = _pointer(
                "paths",
                op.template,
                op.method.lower(),
                "requestBody",
                "content",
                "application/json",
                "schema",
            )
            self._validators[key] = Draft4Validator({"$ref": ptr}, registry=self.registry)
        validator = self._validators[key]
        assert validator is not None
        return validator

    def response_validator(self, op: Operation, status: int) -> Draft4Validator | None:
        """The schema of `status` for `op` (following `#/components/responses` refs), if any."""
        key = (op.operation_id, str(status))
        if key not in self._validators:
            self._validators[key] = self._build_response_validator(op, status)
        return self._validators[key]

    def _build_response_validator(self, op: Operation, status: int) -> Draft4Validator | None:
        responses = self._operation_node(op)["responses"]
        response = responses.get(str(status))
        if response is None:
            return None
        base: tuple[str, ...] = ("paths", op.template, op.method.lower(), "responses", str(status))
        if "$ref" in response:
            name = response["$ref"].rsplit("/", 1)[-1]
            response = self.doc["components"]["responses"][name]
            base = ("components", "responses", name)
        if "application/json" not in response.get("content", {}):
            return None
        ptr = _pointer(*base, "content", "application/json", "schema")
        return Draft4Validator({"$ref": ptr}, registry=self.registry)

    def documented_statuses(self, op: Operation) -> set[int]:
        return {int(s) for s in self._operation_node(op)["responses"]}

    def example(self, name: str) -> Any:
        """A fresh copy of one of the spec's `components/examples`, as published."""
        return copy.deepcopy(self.raw["components"]["examples"][name]["value"])

    def operation(self, operation_id: str) -> Operation:
        return next(op for op in self.operations if op.operation_id == operation_id)


def query_errors(op: Operation, query: dict[str, str]) -> list[str]:
    """Declared query parameters of the wrong type, outside their enum, or over per_page's max.

    GitHub itself caps per_page at 100 silently; the fake rejects it so an App that
    asks for more than it can get is caught.
    """
    errors = []
    for name, param in op.query_parameters().items():
        if name not in query:
            continue
        raw = query[name]
        if param.schema.get("type") == "integer":
            if not re.fullmatch(r"\d+", raw):
                errors.append(f"{name} must be a positive integer, got {raw!r}")
                continue
            if name == "per_page" and not 1 <= int(raw) <= MAX_PER_PAGE:
                errors.append(f"per_page must be between 1 and {MAX_PER_PAGE}, got {raw}")
            if name == "page" and int(raw) < 1:
                errors.append(f"page must be at least 1, got {raw}")
        enum = param.schema.get("enum")
        if enum is not None and raw not in enum:
            errors.append(f"{name} must be one of {enum}, got {raw!r}")
    return errors


def schema_errors(validator: Draft4Validator, instance: Any) -> list[str]:
    """Readable jsonschema errors, `where: what`, sorted so messages are stable."""
    out = []
    for error in validator.iter_errors(instance):
        where = "/".join(str(p) for p in error.absolute_path) or "<root>"
        message = (
            error.message
            if len(error.message) <= 200
            else (f"fails '{error.validator}' ({error.validator_value!r:.80})")
        )
        out.append(f"{where}: {message}")
    return sorted(out)


@functools.cache
def load_spec() -> RestSpec:
    return RestSpec()
