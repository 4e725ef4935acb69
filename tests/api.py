"""Call the API's real handlers as API Gateway would, without a server: the route's function
is found in template.yaml, and the event has the HTTP API v2 shape of events/*.json."""

import copy
import importlib.util
import json
import re
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from local.clock import Clock
from local.template import load_template

ROOT = Path(__file__).resolve().parent.parent
# The requests' time: the machine's, or one started at LOCAL_NOW (local/clock.py), so the
# whole suite can be run as of any day.
CLOCK = Clock.from_environment()


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:af-south-1:123456789012:function:test-function"
    aws_request_id: str = "test-request"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str

    def match(self, method: str, path: str) -> dict[str, str] | None:
        pattern = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        found = re.fullmatch(pattern, path)
        return found.groupdict() if found and method == self.method else None


@cache
def routes() -> tuple[Route, ...]:
    """Every HttpApi event of every function in template.yaml."""
    found = []
    for resource in load_template()["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        folder = Path(resource["Properties"]["CodeUri"]).name
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                found.append(
                    Route(event["Properties"]["Method"], event["Properties"]["Path"], folder)
                )
    return tuple(found)


@cache
def handler(function: str) -> ModuleType:
    path = ROOT / "functions" / function / "handler.py"
    spec = importlib.util.spec_from_file_location(f"handler_{function}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def code(self) -> str | None:
        return self.body.get("error", {}).get("code") if isinstance(self.body, dict) else None


def call(
    method: str,
    path: str,
    *,
    role: str | None = "MANAGER",
    user: str = "alice",
    body: Any = None,
    query: dict[str, str] | None = None,
    key: str | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One request to the API as API Gateway would deliver it (POST/PUT get a fresh
    Idempotency-Key unless `key` is given; `key=""` sends none). A CSV answer's body is its
    text; any other is parsed as JSON."""
    for route in routes():
        params = route.match(method, path)
        if params is not None:
            break
    else:
        raise AssertionError(f"no route for {method} {path}")
    event = copy.deepcopy(_base_event())
    route_key = f"{method} {route.path}"
    event.update(
        routeKey=route_key,
        rawPath=path,
        pathParameters=params or None,
        queryStringParameters=query,
        rawQueryString="&".join(f"{k}={v}" for k, v in (query or {}).items()),
    )
    event["requestContext"].update(
        routeKey=route_key,
        requestId=f"req-{uuid.uuid4().hex[:10]}",
        timeEpoch=int(CLOCK().timestamp() * 1000),
    )
    event["requestContext"]["http"].update(method=method, path=path)
    if role is None:
        event["requestContext"].pop("authorizer")
    else:
        event["requestContext"]["authorizer"]["jwt"]["claims"] = {
            "sub": user,
            "cognito:groups": f"[{role}]",
            "token_use": "access",
        }
    if method in {"POST", "PUT"}:
        idempotency_key = f"key-{uuid.uuid4().hex}" if key is None else key
        if idempotency_key:
            event["headers"]["idempotency-key"] = idempotency_key
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
        event["headers"]["content-type"] = "application/json"
    event["headers"].update({name.lower(): value for name, value in (headers or {}).items()})
    response = handler(route.function).lambda_handler(event, LambdaContext())
    text = response.get("body") or "null"
    answered = response.get("headers", {})
    if str(answered.get("Content-Type", "")).startswith("text/csv"):
        return Answer(response["statusCode"], text, answered)
    return Answer(response["statusCode"], json.loads(text), answered)


@cache
def _base_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads((ROOT / "events" / "get_customer_points.json").read_text())
    return event
