"""Write docs/openapi.json: one OpenAPI document for the whole API, generated from the
routers of every function's handler (the routes and models the code really has); and
docs/events/*.schema.json, the JSON Schemas of the events on the points bus, in and out.

    python -m local.openapi          # rewrite docs/openapi.json
    python -m local.openapi --check  # exit 1 if docs/openapi.json is stale
"""

import argparse
import importlib.util
import json
import os
import sys
from typing import Any, Literal

import local.paths  # noqa: F401  (puts crm_points on the path)
from local.template import ROOT, load_template

DOCUMENT = ROOT / "docs" / "openapi.json"
EVENT_SCHEMAS = ROOT / "docs" / "events"


def event_schemas() -> dict[str, str]:
    """{file name: JSON Schema text} of each event's detail: those the booking system puts on
    the bus (source `bookings`), and those this system puts there (source `crm.points`)."""
    from pydantic import BaseModel

    from crm_points.alerts import Alert
    from crm_points.incoming_events import (
        BookingCancelled,
        BookingCompleted,
        BookingRefunded,
        CustomerUpdated,
    )
    from crm_points.published import PointTransaction
    from crm_points.records import ExpiringReminder
    from crm_points.stream_reactions import ALERT_RAISED, DETAIL_TYPES, POINTS_EXPIRING

    incoming: list[tuple[str, type[BaseModel]]] = [
        ("Booking Completed", BookingCompleted),
        ("Booking Cancelled", BookingCancelled),
        ("Booking Refunded", BookingRefunded),
        ("Customer Updated", CustomerUpdated),
    ]
    outgoing: list[tuple[str, type[BaseModel]]] = [
        *((detail_type, PointTransaction) for detail_type in sorted(set(DETAIL_TYPES.values()))),
        (POINTS_EXPIRING, ExpiringReminder),
        (ALERT_RAISED, Alert),
    ]
    schemas = {}
    modes: list[tuple[str, Literal["validation", "serialization"], list[Any]]] = [
        ("bookings", "validation", incoming),
        ("crm.points", "serialization", outgoing),
    ]
    for source, mode, events in modes:
        for detail_type, model in events:
            schema = model.model_json_schema(by_alias=True, mode=mode)
            schema["title"] = f"{detail_type} (source: {source}): the event's detail"
            name = detail_type.lower().replace(" ", "-") + ".schema.json"
            schemas[name] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return schemas


def handler_modules() -> list[Any]:
    """Every API function's handler module, in template order."""
    os.environ.setdefault("TABLE_NAME", "openapi")
    modules = []
    for name, resource in load_template()["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        events = resource["Properties"].get("Events", {}).values()
        if not any(event["Type"] == "HttpApi" for event in events):
            continue  # an event or schedule function: not part of the HTTP API
        path = ROOT / resource["Properties"]["CodeUri"] / "handler.py"
        spec = importlib.util.spec_from_file_location(f"openapi_{name}", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules.append(module)
    return modules


def build() -> dict[str, Any]:
    """The document: every route of every function, bearer-token security, and only the
    schemas something refers to."""
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Server

    app = APIGatewayHttpResolver(enable_validation=True)
    for module in handler_modules():
        app.include_router(module.router)
    document: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(
            title="CRM Points API",
            version="1.0.0",
            description=(
                "The CRM's view of the loyalty-points ledger. Every request carries a bearer "
                "token; every POST and PUT an Idempotency-Key. Errors are "
                '{"error": {"code", "message", "details"}, "requestId"}.'
            ),
            servers=[Server(url="/")],
            security_schemes={"bearerAuth": HTTPBearer(bearerFormat="JWT")},
            security=[{"bearerAuth": []}],
        )
    )
    _drop_unused_schemas(document)
    return document


def _drop_unused_schemas(document: dict[str, Any]) -> None:
    """Powertools adds its own validation-error schemas; the API answers §3's instead."""
    schemas = document.get("components", {}).get("schemas", {})
    while True:
        text = json.dumps({k: v for k, v in document.items() if k != "components"})
        text += json.dumps(schemas)
        unused = [name for name in schemas if f'"#/components/schemas/{name}"' not in text]
        if not unused:
            return
        for name in unused:
            del schemas[name]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true")
    arguments = parser.parse_args()
    documents = {DOCUMENT: json.dumps(build(), indent=2, sort_keys=True) + "\n"}
    documents.update({EVENT_SCHEMAS / name: text for name, text in event_schemas().items()})
    stale = [
        path for path, text in documents.items() if not path.exists() or path.read_text() != text
    ]
    if arguments.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run `make openapi`", file=sys.stderr)
        return 1 if stale else 0
    EVENT_SCHEMAS.mkdir(exist_ok=True)
    for path in stale:
        path.write_text(documents[path])
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
