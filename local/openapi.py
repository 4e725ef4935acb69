"""Write docs/openapi.json: one OpenAPI document for the whole API, generated from the
routers of every function's handler (the routes and models the code really has).

    python -m local.openapi          # rewrite docs/openapi.json
    python -m local.openapi --check  # exit 1 if docs/openapi.json is stale
"""

import argparse
import importlib.util
import json
import os
import sys
from typing import Any

import local.paths  # noqa: F401  (puts crm_points on the path)
from local.template import ROOT, load_template

DOCUMENT = ROOT / "docs" / "openapi.json"


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
    text = json.dumps(build(), indent=2, sort_keys=True) + "\n"
    if arguments.check:
        if not DOCUMENT.exists() or DOCUMENT.read_text() != text:
            print(f"{DOCUMENT.relative_to(ROOT)} is stale: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.write_text(text)
    print(f"wrote {DOCUMENT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
