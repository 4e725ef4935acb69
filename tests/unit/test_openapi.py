"""docs/openapi.json is what the handlers generate now."""

import json

from local.openapi import DOCUMENT, EVENT_SCHEMAS, build, event_schemas
from tests.api import routes


def test_the_committed_document_is_up_to_date():
    assert DOCUMENT.exists(), "run `make openapi`"
    assert json.loads(DOCUMENT.read_text()) == build(), "docs/openapi.json is stale: make openapi"


def test_every_route_of_the_template_is_in_the_document():
    paths = build()["paths"]
    documented = {(method.upper(), path) for path, item in paths.items() for method in item}
    assert documented == {(route.method, route.path) for route in routes()}


def test_errors_are_documented_in_the_api_format():
    document = build()
    for item in document["paths"].values():
        for operation in item.values():
            for status in ("401", "403", "422"):
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_published_event_schemas_are_up_to_date():
    for name, text in event_schemas().items():
        path = EVENT_SCHEMAS / name
        assert path.exists(), "run `make openapi`"
        assert path.read_text() == text, f"{name} is stale: make openapi"


def test_the_sample_events_match_their_published_schemas():
    import jsonschema  # type: ignore[import-untyped]

    from local.template import ROOT

    for sample, name in [
        ("booking_completed", "booking-completed"),
        ("booking_cancelled", "booking-cancelled"),
        ("booking_refunded", "booking-refunded"),
        ("customer_updated", "customer-updated"),
    ]:
        detail = json.loads((ROOT / "events" / f"{sample}.json").read_text())["detail"]
        schema = json.loads((EVENT_SCHEMAS / f"{name}.schema.json").read_text())
        jsonschema.validate(detail, schema)
