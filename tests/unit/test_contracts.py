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


def signature(schema: Any) -> Any:
    """A schema's shape: its types, references, items and formats, without its words; enum
    values are compared on their own (a new value is an addition)."""
    if isinstance(schema, list):
        return [signature(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: signature(value)
        for key, value in schema.items()
        if key not in _WORDS and key not in {"properties", "required", "enum", "$defs"}
    }


def breaks(path: str, was: Any, now: Any) -> Iterator[str]:
    """Every way `now` does not keep what `was` promised, at `path`."""
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
    for name, field in was.get("properties", {}).items():
        if name not in now.get("properties", {}):
            yield f"{path}.{name}: removed"
        else:
            yield from breaks(f"{path}.{name}", field, now["properties"][name])
    for name, definition in was.get("$defs", {}).items():
        if name not in now.get("$defs", {}):
            yield f"{path}.$defs.{name}: removed"
        else:
            yield from breaks(f"{path}.$defs.{name}", definition, now["$defs"][name])


def test_every_route_and_field_of_the_published_api_is_still_there():
    was = json.loads((BASELINE / "openapi.json").read_text())
    now = build()
    found = [
        f"{method.upper()} {path}: removed"
        for path, item in was["paths"].items()
        for method in item
        if method not in now["paths"].get(path, {})
    ]
    for name, schema in was["components"]["schemas"].items():
        if name not in now["components"]["schemas"]:
            found.append(f"components.schemas.{name}: removed")
        else:
            found.extend(breaks(name, schema, now["components"]["schemas"][name]))
    assert found == []


@pytest.mark.parametrize("name", sorted(p.name for p in (BASELINE / "events").glob("*.json")))
def test_every_field_of_a_published_event_is_still_there(name: str):
    was = json.loads((BASELINE / "events" / name).read_text())
    now = event_schemas()
    assert name in now, f"the event schema {name} is gone"
    assert list(breaks(name, was, json.loads(now[name]))) == []


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
    assert list(breaks("Entry", was, grown)) == []
    assert list(breaks("Entry", was, {**grown, "required": []})) == [
        "Entry.points: no longer required"
    ]
    retyped = {**grown, "properties": {**grown["properties"], "points": {"type": "string"}}}
    assert next(iter(breaks("Entry", was, retyped))).startswith("Entry.points: retyped")
    fewer = {**grown, "properties": {"points": {"type": "integer"}}}
    assert list(breaks("Entry", was, fewer)) == ["Entry.type: removed"]
    narrowed = {**grown, "properties": {**grown["properties"], "type": {"enum": ["EARN"]}}}
    assert list(breaks("Entry", was, narrowed)) == ["Entry.type: the value 'AWARD' is gone"]
