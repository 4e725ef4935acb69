"""DynamoDB's typed form (`{"S": "…"}`, `{"N": "…"}`, …) to and from the JSON-shaped values
the models dump and read: the one item codec of the layer. Keys and expressions are the
data-access modules' (ledger_store.py and the `*_store` modules)."""

from typing import Any


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
