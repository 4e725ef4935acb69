"""The local API (local/api_server.py): routes from template.yaml, real handlers behind a real
HTTP server on DynamoDB Local, API Gateway's v2 events and its JWT authorizer's verdicts."""

import base64
import copy
import http.client
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from crm_points.runtime import runtime
from local.api_server import (
    ApiServer,
    LambdaContext,
    Unauthorized,
    discover_routes,
    find_route,
    local_environment,
    verify_token,
)
from local.template import load_template
from local.token import ISSUER, make_token, signing_secret
from tests.conftest import request

ROOT = Path(__file__).resolve().parents[2]
# SPEC §11's default secret is shorter than PyJWT would like; local tokens guard nothing.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.InsecureKeyLengthWarning")

SAMPLE_EVENT = json.loads((ROOT / "events" / "get_customer_points.json").read_text())


@pytest.fixture(scope="module")
def api(dynamodb_endpoint: str, table_name: str) -> Iterator[ApiServer]:
    """The server on a free port, its functions pointed at the session's table."""
    runtime.cache_clear()
    server = ApiServer(
        0, environment=local_environment(dynamodb_endpoint, table_name), log_requests=False
    )
    with server:
        yield server
    runtime.cache_clear()


def call(
    api: ApiServer,
    method: str,
    path: str,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One real HTTP request: status, headers (lower-cased names), body."""
    connection = http.client.HTTPConnection(api.host, api.port, timeout=10)
    try:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        return (
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            response.read(),
        )
    finally:
        connection.close()


def spy(api: ApiServer, monkeypatch: pytest.MonkeyPatch, function: str) -> list[dict[str, Any]]:
    """Record what `function`'s handler is called with (and the environment it sees), then
    let the real handler answer."""
    module = api.handler_module(api.functions[function])
    real = module.lambda_handler
    calls: list[dict[str, Any]] = []

    def recording(event: dict[str, Any], context: LambdaContext) -> Any:
        calls.append(
            {"event": copy.deepcopy(event), "context": context, "environ": dict(os.environ)}
        )
        return real(event, context)

    monkeypatch.setattr(module, "lambda_handler", recording)
    return calls


def error_body(body: bytes) -> dict[str, Any]:
    """A §3 error body, checked for its shape."""
    parsed: dict[str, Any] = json.loads(body)
    assert set(parsed) == {"error", "requestId"}
    assert set(parsed["error"]) == {"code", "message", "details"}
    assert parsed["error"]["details"] == {}
    assert isinstance(parsed["error"]["message"], str)
    assert parsed["error"]["message"]
    return parsed


def concrete(path: str) -> str:
    """A path of the route with its parameters filled in."""
    return re.sub(r"\{[^}]+\+\}", "a/b", re.sub(r"\{[^}+]+\}", "probe-1", path))


# -- routes ------------------------------------------------------------------------------------


def test_routes_are_every_http_api_event_of_the_template(api):
    expected = set()
    for name, resource in load_template()["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in (resource["Properties"].get("Events") or {}).values():
            if event["Type"] == "HttpApi":
                expected.add((event["Properties"]["Method"], event["Properties"]["Path"], name))
    assert expected
    assert {(route.method, route.path, route.function.name) for route in api.routes} == expected
    assert all(route.authorized for route in api.routes)  # the API's DefaultAuthorizer


def test_every_route_reaches_its_own_function(api, monkeypatch):
    reached: list[tuple[str, str]] = []
    for name in api.functions:
        module = api.handler_module(api.functions[name])

        def recording(event, context, real=module.lambda_handler, name=name):
            reached.append((name, event["routeKey"]))
            return real(event, context)

        monkeypatch.setattr(module, "lambda_handler", recording)
    token = make_token("ADMIN", "admin-1")
    for route in api.routes:
        reached.clear()
        # No body and no Idempotency-Key: writes are refused (422) before they write.
        status, _, body = call(api, route.method, concrete(route.path), token)
        assert reached == [(route.function.name, route.route_key)], route.route_key
        assert status < 500, (route.route_key, body)
        assert b"No such route" not in body, route.route_key  # Powertools' own 404


def test_the_most_specific_route_wins():
    function = {"CodeUri": "functions/x/", "Handler": "handler.lambda_handler"}

    def events(*pairs: tuple[str, str]) -> dict[str, Any]:
        return {
            f"E{index}": {"Type": "HttpApi", "Properties": {"Method": method, "Path": path}}
            for index, (method, path) in enumerate(pairs)
        }

    template = {
        "Resources": {
            "Items": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    **function,
                    "Events": events(
                        ("GET", "/items/{itemId}"),
                        ("GET", "/items/special"),
                        ("ANY", "/items/{itemId}"),
                        ("ANY", "/{proxy+}"),
                    ),
                },
            },
            "Open": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    **function,
                    "Events": {
                        "Get": {
                            "Type": "HttpApi",
                            "Properties": {
                                "Method": "get",
                                "Path": "/open",
                                "Auth": {"Authorizer": "NONE"},
                            },
                        }
                    },
                },
            },
        }
    }
    routes = discover_routes(template)

    def key(method: str, path: str) -> tuple[str, dict[str, str]] | None:
        found = find_route(routes, method, path)
        return None if found is None else (found[0].route_key, found[1])

    assert key("GET", "/items/special") == ("GET /items/special", {})
    assert key("GET", "/items/a%20b") == ("GET /items/{itemId}", {"itemId": "a b"})
    assert key("DELETE", "/items/7") == ("ANY /items/{itemId}", {"itemId": "7"})
    assert key("GET", "/x/y/z") == ("ANY /{proxy+}", {"proxy": "x/y/z"})
    assert key("GET", "/items/") == ("ANY /{proxy+}", {"proxy": "items/"})
    assert key("GET", "/") is None
    open_route = find_route(routes, "GET", "/open")
    assert open_route is not None
    assert not open_route[0].authorized


# -- real calls --------------------------------------------------------------------------------


def test_summary_with_a_manager_token(api, service, customer_id):
    service.award(request(), customer_id=customer_id, amount=1_234, reason="Welcome bonus")
    status, headers, body = call(
        api, "GET", f"/api/crm/customers/{customer_id}/points", make_token("MANAGER", "alice")
    )
    assert status == 200
    assert headers["content-type"] == "application/json"
    summary = json.loads(body)
    assert summary["customerId"] == customer_id
    assert summary["currentBalance"] == 1_234
    assert summary["pointsValue"] == 12.34


def test_history_with_a_support_agent_token(api, service, customer_id):
    for amount in (5, 6):
        service.award(request(), customer_id=customer_id, amount=amount, reason="Points")
    status, _, body = call(
        api,
        "GET",
        f"/api/crm/customers/{customer_id}/points/transactions?limit=1",
        make_token("SUPPORT_AGENT", "agent-1"),
    )
    assert status == 200
    history = json.loads(body)
    assert [entry["points"] for entry in history["transactions"]] == [6]
    assert history["nextCursor"]


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": "alice", "cognito:groups": ["MANAGER"], "iat": now, "exp": now + 600}
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def _unsigned(claims: dict[str, Any]) -> str:
    """A token with `"alg": "none"` and no signature, as an attacker would make it."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


BAD_AUTHORIZATION: dict[str, Callable[[], str | None]] = {
    "missing": lambda: None,
    "empty": lambda: "Bearer ",
    "malformed": lambda: "Bearer not.a.jwt",
    "basic scheme": lambda: "Basic YWxpY2U6cGFzc3dvcmQ=",
    "expired": lambda: "Bearer " + make_token("MANAGER", "alice", minutes=-1),
    "bad signature": lambda: "Bearer " + make_token("MANAGER", "alice", secret="not-the-secret"),
    "alg none": lambda: "Bearer " + _unsigned(_claims()),
    "HS512": lambda: "Bearer " + jwt.encode(_claims(), signing_secret(), algorithm="HS512"),
    "no exp": lambda: "Bearer " + jwt.encode(_claims(exp=None), signing_secret()),
    "no Bearer scheme": lambda: make_token("MANAGER", "alice"),
    "Token scheme": lambda: "Token " + make_token("MANAGER", "alice"),
    "exp as text": lambda: (
        "Bearer " + jwt.encode(_claims(exp=str(int(time.time()) + 600)), signing_secret())
    ),
    "exp of 10^20": lambda: "Bearer " + jwt.encode(_claims(exp=10**20), signing_secret()),
    "exp beyond a day": lambda: (
        "Bearer " + jwt.encode(_claims(exp=int(time.time()) + 2 * 86_400), signing_secret())
    ),
}


@pytest.mark.parametrize("case", BAD_AUTHORIZATION)
def test_a_request_without_a_valid_token_is_401_and_never_reaches_the_function(
    api, monkeypatch, customer_id, case
):
    calls = spy(api, monkeypatch, "CustomerPointsFunction")
    authorization = BAD_AUTHORIZATION[case]()
    headers = {} if authorization is None else {"Authorization": authorization}
    status, response_headers, body = call(
        api, "GET", f"/api/crm/customers/{customer_id}/points", headers=headers
    )
    assert status == 401
    error = error_body(body)
    assert error["error"]["code"] == "UNAUTHORIZED"
    assert error["requestId"] == response_headers["apigw-requestid"]
    assert response_headers["www-authenticate"].startswith("Bearer ")
    assert calls == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/crm/nothing-here"),
        ("GET", "/"),
        ("DELETE", "/api/crm/customers/demo-001/points"),  # a known path, no route for DELETE
        ("POST", "/api/crm/customers/demo-001/points"),
        ("GET", "/api/crm/customers/demo-001/points/"),
    ],
)
def test_a_request_without_a_route_is_404_in_the_error_format(api, method, path):
    status, headers, body = call(api, method, path, make_token("ADMIN", "admin-1"))
    assert status == 404
    error = error_body(body)
    assert error["error"]["code"] == "NOT_FOUND"
    assert error["requestId"] == headers["apigw-requestid"]


# -- the event ---------------------------------------------------------------------------------


def test_the_handler_gets_api_gateways_v2_event(api, monkeypatch, customer_id, table_name):
    calls = spy(api, monkeypatch, "CustomerPointsFunction")
    started = time.time()
    _, headers, _ = call(
        api,
        "GET",
        f"/api/crm/customers/{customer_id}/points",
        make_token("MANAGER", "alice"),
        headers={"User-Agent": "pytest-agent", "Accept": "application/json"},
    )
    [seen] = calls
    event = seen["event"]
    assert list(event) == list(SAMPLE_EVENT)  # same keys, same order
    context = event["requestContext"]
    assert set(context) == set(SAMPLE_EVENT["requestContext"])
    assert set(context["http"]) == set(SAMPLE_EVENT["requestContext"]["http"])
    assert set(context["authorizer"]["jwt"]) == {"claims", "scopes"}
    assert event["version"] == "2.0"
    assert event["routeKey"] == context["routeKey"] == "GET /api/crm/customers/{customerId}/points"
    assert event["rawPath"] == context["http"]["path"] == f"/api/crm/customers/{customer_id}/points"
    assert event["rawQueryString"] == ""
    assert event["pathParameters"] == {"customerId": customer_id}
    assert event["isBase64Encoded"] is False
    assert all(name == name.lower() for name in event["headers"])
    assert event["headers"]["user-agent"] == context["http"]["userAgent"] == "pytest-agent"
    assert event["headers"]["authorization"].startswith("Bearer ")
    assert event["headers"]["x-forwarded-for"] == context["http"]["sourceIp"] == "127.0.0.1"
    assert context["http"]["method"] == "GET"
    assert context["http"]["protocol"] == "HTTP/1.1"
    assert context["stage"] == "$default"
    assert context["domainName"] == "127.0.0.1"
    assert context["requestId"] == headers["apigw-requestid"]
    assert started - 1 <= context["timeEpoch"] / 1000 <= time.time() + 1
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", context["time"])
    claims = context["authorizer"]["jwt"]["claims"]
    assert claims["sub"] == "alice"
    assert claims["cognito:groups"] == "[MANAGER]"
    assert claims["iss"] == ISSUER
    assert claims["exp"].isdigit()
    assert claims["iat"].isdigit()
    assert all(isinstance(value, str) for value in claims.values())
    assert context["authorizer"]["jwt"]["scopes"] is None
    # The Lambda context and the function's environment.
    lambda_context = seen["context"]
    assert lambda_context.function_name == "CustomerPointsFunction"
    assert lambda_context.memory_limit_in_mb == 512  # Globals.Function.MemorySize
    assert lambda_context.invoked_function_arn.endswith(":function:CustomerPointsFunction")
    assert lambda_context.aws_request_id
    assert 0 < lambda_context.get_remaining_time_in_millis() <= 10_000  # Globals' Timeout
    assert seen["environ"]["TABLE_NAME"] == table_name
    assert seen["environ"]["POWERTOOLS_SERVICE_NAME"] == "crm-points"  # from the template
    assert seen["environ"]["AWS_DEFAULT_REGION"] == "af-south-1"


def test_query_cookies_repeated_headers_and_bodies_as_api_gateway_passes_them(api, monkeypatch):
    calls = spy(api, monkeypatch, "AwardPointsFunction")
    connection = http.client.HTTPConnection(api.host, api.port, timeout=10)
    payload = json.dumps({"customerId": "c-1", "amount": 5, "reason": "Ünïcode reason"}).encode()
    connection.putrequest("POST", "/api/crm/points/award?tag=a&tag=b&empty=&q=x%20y")
    for name, value in [
        ("Authorization", f"Bearer {make_token('MANAGER', 'alice')}"),
        ("X-Probe", "one"),
        ("X-Probe", "two"),
        ("Cookie", "a=1; b=2"),
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(payload))),
    ]:
        connection.putheader(name, value)
    connection.endheaders(payload)
    response = connection.getresponse()
    response.read()
    connection.close()
    status, _, _ = call(
        api,
        "POST",
        "/api/crm/points/award",
        make_token("MANAGER", "alice"),
        headers={"Content-Type": "application/octet-stream"},
        body=b"\x00\xff",
    )
    assert status < 500  # not JSON: refused by the function
    text, binary = (seen["event"] for seen in calls)
    assert text["rawQueryString"] == "tag=a&tag=b&empty=&q=x%20y"
    assert text["queryStringParameters"] == {"tag": "a,b", "empty": "", "q": "x y"}
    assert text["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in text["headers"]
    assert text["headers"]["x-probe"] == "one,two"
    assert text["body"] == payload.decode()
    assert text["isBase64Encoded"] is False
    assert "pathParameters" not in text
    assert binary["body"] == "AP8="
    assert binary["isBase64Encoded"] is True
    assert "queryStringParameters" not in binary
    assert "cookies" not in binary
    assert text["requestContext"]["requestId"] != binary["requestContext"]["requestId"]


def test_claims_arrive_as_strings_and_scopes_as_a_list(api, monkeypatch, customer_id):
    calls = spy(api, monkeypatch, "CustomerPointsFunction")
    token = jwt.encode(
        _claims(**{"cognito:groups": ["MANAGER", "ADMIN"]}, scope="a/read b", n=5, flag=True),
        signing_secret(),
    )
    call(api, "GET", f"/api/crm/customers/{customer_id}/points", token)
    authorizer = calls[0]["event"]["requestContext"]["authorizer"]["jwt"]
    assert authorizer["claims"]["cognito:groups"] == "[MANAGER ADMIN]"
    assert authorizer["claims"]["n"] == "5"
    assert authorizer["claims"]["flag"] == "true"
    assert authorizer["claims"]["scope"] == "a/read b"
    assert authorizer["scopes"] == ["a/read", "b"]


def test_a_handler_that_raises_is_a_500_without_its_trace(api, monkeypatch, capsys, customer_id):
    module = api.handler_module(api.functions["CustomerPointsFunction"])

    def broken(event: dict[str, Any], context: LambdaContext) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(module, "lambda_handler", broken)
    status, headers, body = call(
        api, "GET", f"/api/crm/customers/{customer_id}/points", make_token("MANAGER", "alice")
    )
    assert status == 500
    error = error_body(body)
    assert error["error"]["code"] == "INTERNAL_ERROR"
    assert error["requestId"] == headers["apigw-requestid"]
    assert b"secret internals" not in body
    assert b"Traceback" not in body
    logged = capsys.readouterr().err
    assert "RuntimeError: secret internals" in logged
    assert headers["apigw-requestid"] in logged


# -- docs, lifecycle, tokens -------------------------------------------------------------------


def test_swagger_ui_and_the_openapi_document_need_no_token(tmp_path):
    document = tmp_path / "openapi.json"
    with ApiServer(0, openapi=document, log_requests=False) as server:
        status, headers, body = call(server, "GET", "/docs")
        assert status == 200
        assert headers["content-type"].startswith("text/html")
        assert b'id="swagger-ui"' in body
        status, _, body = call(server, "GET", "/docs/swagger-initializer.js")
        assert b'url: "/openapi.json"' in body
        status, headers, body = call(server, "GET", "/docs/swagger-ui-bundle.js")
        assert status == 200
        assert len(body) > 100_000
        assert call(server, "GET", "/docs/no-such-file.js")[0] == 404
        assert call(server, "GET", "/docs/../package.json")[0] == 404
        status, _, body = call(server, "GET", "/openapi.json")
        assert status == 404
        assert "does not exist yet" in error_body(body)["error"]["message"]
        document.write_text('{"openapi": "3.1.0"}')
        status, headers, body = call(server, "GET", "/openapi.json")
        assert (status, headers["content-type"], body) == (
            200,
            "application/json",
            b'{"openapi": "3.1.0"}',
        )


def test_the_server_stops_cleanly_and_frees_its_port():
    server = ApiServer(0, log_requests=False).start()
    port = server.port
    assert call(server, "GET", "/docs")[0] == 200
    with pytest.raises(RuntimeError, match="PORT"):
        ApiServer(port)
    server.stop()
    assert not server.running
    with pytest.raises(ConnectionRefusedError):
        call(server, "GET", "/docs")
    ApiServer(port, log_requests=False).stop()  # the port is free again


def test_make_token_round_trip():
    token = make_token("SUPPORT_AGENT", "bob", secret="a-secret-of-this-test", minutes=5)
    claims = verify_token(f"Bearer {token}", "a-secret-of-this-test")
    assert claims["sub"] == "bob"
    assert claims["cognito:groups"] == ["SUPPORT_AGENT"]
    assert claims["iss"] == ISSUER
    assert claims["token_use"] == "access"
    assert claims["exp"] - claims["iat"] == 300
    with pytest.raises(Unauthorized, match="bearer token is required"):
        verify_token(token, "a-secret-of-this-test")  # the scheme is part of the contract
    with pytest.raises(Unauthorized, match="signature"):
        verify_token(f"Bearer {token}", "another-secret")
    with pytest.raises(ValueError, match="unknown role"):
        make_token("CUSTOMER", "bob")


def test_the_token_command_prints_the_token_alone():
    result = subprocess.run(
        [sys.executable, "-m", "local.token", "--role", "ADMIN", "--user", "alice"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LOCAL_JWT_SECRET": "a-secret-of-this-test"},
    )
    token = result.stdout.removesuffix("\n")
    assert "\n" not in token
    claims = verify_token(f"Bearer {token}", "a-secret-of-this-test")
    assert (claims["sub"], claims["cognito:groups"]) == ("alice", ["ADMIN"])


def test_local_endpoints_exist_only_in_the_local_stack(api):
    """`/local/*` is answered by the local stack's own endpoints (local/control.py), never a
    route of template.yaml: without them the server has no such path, like the deployed API."""
    assert not [route for route in api.routes if route.path.startswith("/local")]
    status, _, body = call(api, "POST", "/local/events", make_token("ADMIN", "admin-1"))
    assert status == 404
    assert error_body(body)["error"]["code"] == "NOT_FOUND"


def test_a_preflight_is_answered_by_the_server_and_answers_carry_cors_headers(
    api: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CORS as the template configures it (local/cors.py): the browser of a page on another
    loopback origin may call the API, and reads its refusals too."""
    calls = spy(api, monkeypatch, "AwardPointsFunction")
    origin = {"Origin": "http://localhost:5173"}
    status, headers, _ = call(
        api,
        "OPTIONS",
        "/api/crm/points/award",
        headers=origin
        | {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
        },
    )
    assert status == 204
    assert headers["access-control-allow-origin"] == "http://localhost:5173"
    assert headers["access-control-allow-headers"] == "Authorization,Content-Type,Idempotency-Key"
    assert calls == []  # no function, no authorizer

    status, headers, _ = call(api, "POST", "/api/crm/points/award", headers=origin, body=b"{}")
    assert status == 401
    assert headers["access-control-allow-origin"] == "http://localhost:5173"
    assert headers["access-control-expose-headers"] == "apigw-requestid"

    status, headers, _ = call(
        api, "GET", "/api/crm/points/config", headers={"Origin": "https://elsewhere.example"}
    )
    assert status == 401
    assert "access-control-allow-origin" not in headers
