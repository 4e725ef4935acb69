"""EventBridge's event patterns, which Lambda's event filtering (`FilterCriteria`) also uses.

The matching is moto's (its EventBridge rules match events with it): exact values, `prefix`,
`suffix`, `anything-but`, `numeric`, `exists`, `equals-ignore-case`, `wildcard`, `$or`.
It is imported on first use: moto is heavy, and only the local stack and tests need it.
"""

import json
from collections.abc import Mapping
from typing import Any


class BadPattern(ValueError):
    """An event pattern that EventBridge would refuse."""


def parse_pattern(raw: str | Mapping[str, Any]) -> dict[str, Any]:
    """A pattern as the template writes it (a JSON string, or YAML mapping), checked as
    EventBridge checks it: every value an object or a non-empty array."""
    from moto.events.exceptions import InvalidEventPatternException
    from moto.events.models import EventPatternParser

    text = raw if isinstance(raw, str) else json.dumps(raw)
    try:
        pattern: dict[str, Any] = EventPatternParser(text).parse()
    except InvalidEventPatternException as refused:
        raise BadPattern(f"not a valid event pattern ({refused.message}): {text}") from None
    return pattern


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether `event` (an EventBridge event, a stream record, an SQS record) matches."""
    from moto.events.models import EventPattern

    checked: Any = dict(event)  # moto types it as an EventBridge event; any mapping works
    return bool(EventPattern(None, dict(pattern)).matches_event(checked))


def matches_any(patterns: list[dict[str, Any]], event: Mapping[str, Any]) -> bool:
    """Lambda's `FilterCriteria`: the record passes when any filter matches (or none is set)."""
    return not patterns or any(matches(pattern, event) for pattern in patterns)


def filter_patterns(properties: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The patterns of an event source's `FilterCriteria: {Filters: [{Pattern}]}`."""
    filters = (properties.get("FilterCriteria") or {}).get("Filters") or []
    return [parse_pattern(entry["Pattern"]) for entry in filters]
