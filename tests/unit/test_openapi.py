"""docs/openapi.json is what the handlers generate now."""

import json

from local.openapi import DOCUMENT, build
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
