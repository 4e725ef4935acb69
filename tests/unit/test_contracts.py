"""The published contracts only grow: every route, and every field of every API and event
schema in the baseline (tests/contracts/, the documents as first published) is still there,
with the same type, and still required where it was. Adding routes, fields or enum values
passes; removing or retyping one fails, naming where. A breaking change is a new version of
the API or of the event, never an edit of these files (docs/api.md, "Compatibility")."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.openapi import build, event_schemas

BASELINE = Path(__file__).resolve().parents[1] / "contracts"
# What describes a value without constraining its shape.
_WORDS = {"title", "description", "default", "examples", "example", "deprecated"}
# What `breaks` follows on its own: fields, their requirement, enum values, nested schemas.
_NESTED = {"properties", "required", "enum", "$defs", "items", "anyOf", "oneOf", "allOf"}
_METHODS = {"get", "put", "post", "delete", "patch"}


def resolved(schema: Any, root: dict[str, Any]) -> Any:
    """The schema a `$ref` points to, within its document; the schema itself otherwise.
    The wire shape is the contract, not what a schema is called."""
    while isinstance(schema, dict) and "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def signature(schema: Any) -> Any:
    """A schema's own shape: its types and formats, without its words or what `breaks`
    follows itself."""
    if not isinstance(schema, dict):
        return schema
    return {
        key: signature(value)
        for key, value in schema.items()
        if key not in _WORDS and key not in _NESTED
    }


def breaks(
    path: str, was: Any, now: Any, was_root: dict[str, Any], now_root: dict[str, Any]
) -> Iterator[str]:
    """Every way `now` does not keep what `was` promised, at `path`."""
    was, now = resolved(was, was_root), resolved(now, now_root)
    if not isinstance(was, dict) or not isinstance(now, dict):
        if was != now:
            yield f"{path}: was {was!r}, now {now!r}"
        return
    if signature(was) != signature(now):
        yield f"{path}: retyped from {signature(was)} to {signature(now)}"
    for value in set(was.get("enum", [])) - set(now.get("enum", [])):
        yield f"{path}: the value {value!r} is gone"
    for name in set(was.get("required", [])) - set(now.get("required", [])):
        yield f"{path}.{name}: no longer required"
    for key in ("properties", "$defs"):
        for name, field in was.get(key, {}).items():
            if name not in now.get(key, {}):
                yield f"{path}.{name}: removed"
            else:
                yield from breaks(f"{path}.{name}", field, now[key][name], was_root, now_root)
    if "items" in was:
        yield from breaks(f"{path}[]", was["items"], now.get("items"), was_root, now_root)
    for key in ("anyOf", "oneOf", "allOf"):
        if len(was.get(key, [])) != len(now.get(key, [])):
            yield f"{path}: {key} was {len(was.get(key, []))} schemas, now {len(now.get(key, []))}"
            continue
        for number, (old, new) in enumerate(zip(was.get(key, []), now.get(key, []), strict=True)):
            yield from breaks(f"{path}.{key}[{number}]", old, new, was_root, now_root)


def _bodies(operation: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Each body of an operation: its request's and each response's, by media type."""
    request = operation.get("requestBody", {}).get("content", {})
    for media_type, content in request.items():
        yield f"request {media_type}", content.get("schema")
    for status, response in operation.get("responses", {}).items():
        for media_type, content in response.get("content", {}).items():
            yield f"{status} {media_type}", content.get("schema")


def _parameters(operation: dict[str, Any]) -> dict[str, Any]:
    return {f"{p['in']} {p['name']}": p for p in operation.get("parameters", [])}


def test_every_route_and_field_of_the_published_api_is_still_there():
    was = json.loads((BASELINE / "openapi.json").read_text())
    now = build()
    found = []
    for path, item in was["paths"].items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            route = f"{method.upper()} {path}"
            current = now["paths"].get(path, {}).get(method)
            if current is None:
                found.append(f"{route}: removed")
                continue
            bodies = dict(_bodies(current))
            for where, schema in _bodies(operation):
                if where not in bodies:
                    found.append(f"{route} {where}: removed")
                else:
                    found.extend(breaks(f"{route} {where}", schema, bodies[where], was, now))
            parameters = _parameters(current)
            for name, parameter in _parameters(operation).items():
                if name not in parameters:
                    found.append(f"{route} {name}: removed")
                elif parameter.get("required") and not parameters[name].get("required"):
                    found.append(f"{route} {name}: no longer required")
                else:
                    found.extend(
                        breaks(
                            f"{route} {name}",
                            parameter.get("schema"),
                            parameters[name].get("schema"),
                            was,
                            now,
                        )
                    )
    assert found == []


@pytest.mark.parametrize("name", sorted(p.name for p in (BASELINE / "events").glob("*.json")))
def test_every_field_of_a_published_event_is_still_there(name: str):
    was = json.loads((BASELINE / "events" / name).read_text())
    now = event_schemas()
    assert name in now, f"the event schema {name} is gone"
    schema = json.loads(now[name])
    assert list(breaks(name, was, schema, was, schema)) == []


def test_the_check_sees_a_field_removed_retyped_or_made_optional():
    was: dict[str, Any] = {
        "type": "object",
        "properties": {"points": {"type": "integer"}, "type": {"enum": ["EARN", "AWARD"]}},
        "required": ["points"],
    }
    grown: dict[str, Any] = {
        "type": "object",
        "properties": {
            "points": {"type": "integer", "title": "Points"},
            "type": {"enum": ["EARN", "AWARD", "REFUND"]},
            "new": {"type": "string"},
        },
        "required": ["points", "new"],
    }

    def check(now: dict[str, Any]) -> list[str]:
        return list(breaks("Entry", was, now, {}, {}))

    assert check(grown) == []
    assert check({**grown, "required": []}) == ["Entry.points: no longer required"]
    retyped = {**grown, "properties": {**grown["properties"], "points": {"type": "string"}}}
    assert check(retyped)[0].startswith("Entry.points: retyped")
    fewer = {**grown, "properties": {"points": {"type": "integer"}}}
    assert check(fewer) == ["Entry.type: removed"]
    narrowed = {**grown, "properties": {**grown["properties"], "type": {"enum": ["EARN"]}}}
    assert check(narrowed) == ["Entry.type: the value 'AWARD' is gone"]


def test_the_check_follows_references_so_a_renamed_schema_keeps_its_promise():
    entry = {"type": "object", "properties": {"points": {"type": "integer"}}}
    was = {
        "components": {"schemas": {"LedgerEntry": entry}},
        "page": {"type": "array", "items": {"$ref": "#/components/schemas/LedgerEntry"}},
    }
    renamed = {
        "components": {"schemas": {"PointTransaction": entry}},
        "page": {"type": "array", "items": {"$ref": "#/components/schemas/PointTransaction"}},
    }
    assert list(breaks("page", was["page"], renamed["page"], was, renamed)) == []
    emptied = {
        "components": {"schemas": {"PointTransaction": {"type": "object", "properties": {}}}},
        "page": renamed["page"],
    }
    assert list(breaks("page", was["page"], emptied["page"], was, emptied)) == [
        "page[].points: removed"
    ]
