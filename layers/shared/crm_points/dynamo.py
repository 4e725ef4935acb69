"""DynamoDB's typed form (`{"S": "…"}`, `{"N": "…"}`, …) to and from the JSON-shaped values
the models dump and read: the one item codec of the layer; and the one cursor codec, the
opaque text a page hands back for the next. Keys and expressions are the data-access
modules' (ledger_store.py and the `*_store` modules)."""

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

from crm_points.errors import ValidationFailed


def to_attribute(value: Any) -> dict[str, Any]:
    """A JSON-shaped value in DynamoDB's typed form (the types this table stores)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(item) for item in value]}
    if isinstance(value, dict):
        return {"M": {key: to_attribute(item) for key, item in value.items()}}
    raise TypeError(f"cannot store a {type(value).__name__}")


def from_attribute(attribute: dict[str, Any]) -> Any:
    """DynamoDB's typed form back to a JSON-shaped value (numbers as int where whole)."""
    ((kind, value),) = attribute.items()
    if kind == "S" or kind == "BOOL":
        return value
    if kind == "N":
        number = float(value)
        return (
            int(value)
            if number.is_integer() and "." not in value and "e" not in value.lower()
            else number
        )
    if kind == "NULL":
        return None
    if kind == "L":
        return [from_attribute(item) for item in value]
    if kind == "M":
        return {key: from_attribute(item) for key, item in value.items()}
    if kind == "SS":
        return sorted(value)
    raise TypeError(f"unexpected DynamoDB type {kind}")


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """Plain JSON-shaped values to DynamoDB's typed form."""
    return {name: to_attribute(value) for name, value in values.items()}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """An item in DynamoDB's typed form to plain values."""
    return {name: from_attribute(value) for name, value in item.items()}


def without_keys(item: dict[str, Any]) -> dict[str, Any]:
    """A stored item's values without its table keys and its `entity`: the record's own."""
    values = from_item(item)
    for name in ("PK", "SK", "entity"):
        values.pop(name, None)
    return values


def query_items(client: Any, arguments: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The items a Query (`arguments`, typed form) matches, in order, as stored (typed),
    asking for the next page only when the items of the one before have been read."""
    arguments = dict(arguments)
    while True:
        page = client.query(**arguments)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def queried(client: Any, arguments: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """As `query_items`, each item as plain values."""
    return (from_item(item) for item in query_items(client, arguments))


def encode_cursor(values: dict[str, Any], scope: str | None) -> str:
    """Where a page ends, as opaque URL-safe text bound to the query it pages (`scope`: the
    partition and filters that query was given; None where its values mean the same to
    every query of the route)."""
    envelope = values if scope is None else {**values, "for": _scope_tag(scope)}
    raw = json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, scope: str | None) -> dict[str, Any]:
    """A cursor's values, checked to be one this query issued: anything else is a 422,
    never a request DynamoDB fails. The caller checks the values themselves."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, RecursionError) as bad:
        raise ValidationFailed("cursor is not valid", {"field": "cursor"}) from bad
    if not isinstance(values, dict):
        raise ValidationFailed("cursor is not valid", {"field": "cursor"})
    if scope is not None and values.pop("for", None) != _scope_tag(scope):
        raise ValidationFailed(
            "The cursor belongs to another query: send it with the filters and customer "
            "of the page it came from",
            {"field": "cursor"},
        )
    return values


def _scope_tag(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:16]
