"""The HTTP API on this machine (SPEC §11), as API Gateway's HTTP API would serve it.

Routes are read from template.yaml: every `HttpApi` event of every `AWS::Serverless::Function`
(its `Method` and `Path`, with `{param}` and greedy `{proxy+}` segments). A request goes to that
function's handler (`CodeUri` + `Handler`), imported from its own file as its own module, once,
and called with a payload v2 event and a Lambda-like context. What it returns becomes the
HTTP response.

Like the deployed API:
- A route behind the API's JWT authorizer needs `Authorization: Bearer <JWT>` (API Gateway
  would also take the token alone; the functions refuse it, so the local server does too).
  Locally the JWT is HS256, signed with `LOCAL_JWT_SECRET` (default `local-dev-secret`, see
  local/token.py), and must carry `exp`: a number, at most a day ahead (Cognito's longest).
  A missing, malformed, badly signed or expired token is answered 401 without calling the
  function. The body is SPEC §3's error format with the code UNAUTHORIZED; API Gateway's own
  authorizer answers `{"message": "Unauthorized"}` instead (with the same status and a
  `www-authenticate` header), so a client must not rely on the body of a 401.
- The verified claims reach the function as the authorizer passes them: every value a string,
  a list as "[A B]", a number as its digits. `scopes` is null unless the token has `scope`.
- A path or method without a route answers 404 (`NOT_FOUND`, in §3's format here; API Gateway
  says `{"message": "Not Found"}`); a function that raises answers 500 without a stack trace
  (the trace goes to stderr).
- Each response carries an `apigw-requestid` header, the event's `requestContext.requestId`.
- CORS as the template's `CorsConfiguration` says, for loopback origins and
  `LOCAL_CORS_ORIGINS` (local/cors.py): preflights answered by the server itself.

Unlike it: one process runs all the functions (local/functions.py's runner, shared with the
local stack's event sources), sharing one copy of the shared layer and of its module state.
So invocations run one at a time, as each Lambda execution environment runs them; the server
itself is threaded, so the Swagger UI and slow clients never wait on a function. A function
sees the environment the template gives it (with `make run`, its intrinsics resolved to the
local resources: local/resources.py; otherwise they are left out) plus the local stack's
(`TABLE_NAME`, the endpoints, region, stand-in credentials), set around each invocation and
its first import.

Not API Gateway at all: `/docs` (Swagger UI, from the npm package `swagger-ui-dist`) and
`/openapi.json` (docs/openapi.json, read at each request), both without a token; and, when
the local stack gives them, its own endpoints under `/local/` (local/control.py,
docs/local.md; without CORS: they are for this origin's pages alone) and, with them, the CRM
console: `/` and `/console/*`, the static files of console/ (docs/console.md), `/config.json`
(its settings: local sign-in), and `/vendor/chart.js/*` (the npm package `chart.js`'s dist/,
for the console's dashboard). The deployed API has none of these: CloudFront serves the
console (`make console-deploy`).
"""

import base64
import json
import os
import re
import secrets
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

import jwt
from werkzeug.exceptions import NotFound
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.utils import send_from_directory
from werkzeug.wrappers import Request, Response

import local.paths  # noqa: F401  (puts crm_points on the path, as the layer does in AWS)
from local.clock import Clock
from local.cors import CorsRules
from local.dynamodb_local import LOCAL_ACCESS_KEY, REGION, ROOT
from local.functions import Function as Function  # re-exported: the server's own names
from local.functions import FunctionHost, discover_functions
from local.functions import LambdaContext as LambdaContext
from local.functions import load_handler_module as load_handler_module
from local.template import load_template
from local.token import ALGORITHM, MAX_TOKEN_LIFETIME, signing_secret

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from local.control import LocalEndpoints

HOST = "127.0.0.1"
DEFAULT_PORT = 3000
SWAGGER_UI = ROOT / "node_modules" / "swagger-ui-dist"
CONSOLE = ROOT / "console"
# Chart.js for the console's dashboard, from npm (package.json), served as /vendor/chart.js/.
CHART_JS = ROOT / "node_modules" / "chart.js" / "dist"
OPENAPI = ROOT / "docs" / "openapi.json"
LOCAL_CONSOLE_CONFIG = {"signIn": "local", "apiBase": ""}

# What API Gateway puts in every event; locally these are stand-ins.
ACCOUNT_ID = "123456789012"
API_ID = "local"
STAGE = "$default"
DEFAULT_ROUTE = "$default"

# Bodies of these media types reach the function as text; any other as base64.
_TEXT_MEDIA = re.compile(
    r"^(text/.+|application/(json|xml|javascript|x-www-form-urlencoded|x-yaml|yaml|graphql)"
    r"|application/.+\+(json|xml))$"
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# -- routes from the template ----------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One `HttpApi` event: `method` ("ANY" for any) and `path` ("$default" for the catch-all)."""

    method: str
    path: str
    function: Function
    authorized: bool = True
    scopes: tuple[str, ...] = ()

    @property
    def route_key(self) -> str:
        return DEFAULT_ROUTE if self.path == DEFAULT_ROUTE else f"{self.method} {self.path}"

    @property
    def segments(self) -> list[str]:
        return self.path.split("/")[1:]

    def precedence(self) -> tuple[bool, bool, int, int, bool]:
        """Sort key, most specific first: literal segments beat `{param}`, which beats a
        greedy `{proxy+}`; a route for the method beats ANY; `$default` comes last."""
        greedy = any(part.endswith("+}") for part in self.segments)
        literal = sum(1 for part in self.segments if not part.startswith("{"))
        return (
            self.path == DEFAULT_ROUTE,
            greedy,
            -literal,
            len(self.segments),
            self.method == "ANY",
        )

    def match(self, method: str, segments: list[str]) -> dict[str, str] | None:
        """The path parameters (decoded) when this route takes the request, else None."""
        if self.method not in ("ANY", method):
            return None
        if self.path == DEFAULT_ROUTE:
            return {}
        parameters: dict[str, str] = {}
        for index, part in enumerate(self.segments):
            if part.startswith("{") and part.endswith("+}"):
                rest = segments[index:]
                if not "".join(rest):
                    return None
                parameters[part[1:-2]] = unquote("/".join(rest))
                return parameters
            if index >= len(segments):
                return None
            segment = segments[index]
            if part.startswith("{") and part.endswith("}"):
                if not segment:
                    return None
                parameters[part[1:-1]] = unquote(segment)
            elif unquote(segment) != part:
                return None
        return parameters if len(segments) == len(self.segments) else None


def _authorization(template: dict[str, Any], event: dict[str, Any]) -> tuple[bool, tuple[str, ...]]:
    """Whether the route is behind a JWT authorizer, and the scopes it asks for."""
    auth = event.get("Auth") or {}
    scopes = tuple(str(scope) for scope in auth.get("AuthorizationScopes") or ())
    authorizer = auth.get("Authorizer")
    if authorizer == "NONE":
        return False, ()
    if authorizer:
        return True, scopes
    api = event.get("ApiId")
    if isinstance(api, dict) and isinstance(api.get("Ref"), str):
        resource = template.get("Resources", {}).get(api["Ref"]) or {}
        api_auth = (resource.get("Properties") or {}).get("Auth") or {}
    else:  # the implicit API of the template
        api_auth = ((template.get("Globals") or {}).get("HttpApi") or {}).get("Auth") or {}
    return bool(api_auth.get("DefaultAuthorizer")), scopes


def discover_routes(
    template: dict[str, Any] | None = None,
    root: Path = ROOT,
    functions: Mapping[str, Function] | None = None,
) -> list[Route]:
    """Every `HttpApi` event of every function in the template, most specific route first.
    `functions` are the template's functions as discovered with their local resources."""
    template = template if template is not None else load_template()
    if functions is None:
        functions = discover_functions(template, root)
    routes: list[Route] = []
    for function in functions.values():
        for event in function.events_of("HttpApi"):
            authorized, scopes = _authorization(template, dict(event.properties))
            routes.append(
                Route(
                    method=str(event.properties.get("Method", "ANY")).upper(),
                    path=str(event.properties.get("Path", DEFAULT_ROUTE)),
                    function=function,
                    authorized=authorized,
                    scopes=scopes,
                )
            )
    return sorted(routes, key=Route.precedence)


def find_route(
    routes: Iterable[Route], method: str, raw_path: str
) -> tuple[Route, dict[str, str]] | None:
    """The first of `routes` (sorted by precedence) that takes `method` on `raw_path`, with
    its path parameters; None when none does (API Gateway then answers 404)."""
    segments = raw_path.split("/")[1:]
    for route in routes:
        parameters = route.match(method, segments)
        if parameters is not None:
            return route, parameters
    return None


# -- the authorizer ----------------------------------------------------------------------------


class Unauthorized(Exception):
    """The request has no valid token; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def verify_token(authorization: str | None, secret: str) -> dict[str, Any]:
    """The claims of the `Authorization` header's token, verified: HS256 with `secret`, not
    expired, `exp` present. Raises Unauthorized otherwise."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("A bearer token is required: Authorization: Bearer <token>")
    token = token.strip()
    try:
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp"]}
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The token has expired") from None
    except jwt.InvalidSignatureError:
        raise Unauthorized("The token's signature is not valid") from None
    except jwt.InvalidAlgorithmError:
        raise Unauthorized(f"The token must be signed with {ALGORITHM}") from None
    except jwt.MissingRequiredClaimError as missing:
        raise Unauthorized(f"The token has no {missing.claim} claim") from None
    except jwt.DecodeError:
        raise Unauthorized("The token is malformed") from None
    except jwt.InvalidTokenError as invalid:
        raise Unauthorized(f"The token is not valid: {invalid}") from None
    # PyJWT takes "9999999999" or 10**20 as an expiry: a token that never expires.
    expiry = claims["exp"]
    if not isinstance(expiry, int | float) or isinstance(expiry, bool):
        raise Unauthorized("The token's exp must be a number (seconds since 1970)")
    if expiry > time.time() + MAX_TOKEN_LIFETIME.total_seconds():
        raise Unauthorized(f"The token may be valid for at most {MAX_TOKEN_LIFETIME}")
    return claims


def claim_text(value: Any) -> str:
    """A claim as API Gateway's JWT authorizer hands it on: a string, lists as "[A B]"."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + " ".join(claim_text(item) for item in value) + "]"
    return json.dumps(value, separators=(",", ":"))


def authorizer_context(claims: Mapping[str, Any]) -> dict[str, Any]:
    """`requestContext.authorizer` for verified claims."""
    scope = claims.get("scope")
    return {
        "jwt": {
            "claims": {name: claim_text(value) for name, value in claims.items()},
            "scopes": scope.split() if isinstance(scope, str) else None,
        }
    }


# -- the event, the context, the response ------------------------------------------------------


def new_request_id() -> str:
    """An id in the form API Gateway gives its requests (16 characters of base64)."""
    return base64.b64encode(secrets.token_bytes(11)).decode()


def _request_time(now: datetime) -> str:
    """API Gateway's `requestContext.time`: 24/Nov/2026:08:00:00 +0000 (not locale-dependent)."""
    return f"{now:%d}/{_MONTHS[now.month - 1]}/{now:%Y:%H:%M:%S} +0000"


def _undo_wsgi_text(value: str) -> str:
    """Text of the request line as the client sent it: the WSGI server hands it on as latin-1
    text of its UTF-8 encoding (PEP 3333), and http.server read it as latin-1 before that."""
    try:
        return value.encode("latin-1").decode("utf-8").encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _raw_target(request: Request) -> tuple[str, str]:
    """The path and query string exactly as the client sent them (not decoded)."""
    query = _undo_wsgi_text(str(request.environ.get("QUERY_STRING", "")))
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if isinstance(raw, str) and raw:
        return urlsplit(_undo_wsgi_text(raw)).path or "/", query
    return request.path, query


def build_event(
    request: Request,
    route: Route,
    path_parameters: Mapping[str, str],
    claims: Mapping[str, Any] | None,
    request_id: str,
    now: datetime,
) -> dict[str, Any]:
    """The HTTP API payload v2 event for `request` on `route`; absent parts are left out as
    API Gateway leaves them out (no `cookies`, `queryStringParameters`, `body` or
    `pathParameters` when there are none; no `authorizer` on a route without one). `now` is
    the request's time (`requestContext.time` and `timeEpoch`)."""
    raw_path, raw_query = _raw_target(request)
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    cookie_header = headers.pop("cookie", "")
    cookies = [part.strip() for part in cookie_header.split(";") if part.strip()]
    source_ip = request.remote_addr or HOST
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {source_ip}" if forwarded else source_ip
    headers.setdefault("x-forwarded-port", str(request.environ.get("SERVER_PORT", "")))
    headers.setdefault("x-forwarded-proto", request.scheme)

    query: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value

    domain = urlsplit(f"//{request.host}").hostname or HOST
    context: dict[str, Any] = {"accountId": ACCOUNT_ID, "apiId": API_ID}
    if claims is not None:
        context["authorizer"] = authorizer_context(claims)
    context.update(
        {
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": request.method,
                "path": raw_path,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route.route_key,
            "stage": STAGE,
            "time": _request_time(now),
            "timeEpoch": int(now.timestamp() * 1000),
        }
    )

    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = context
    data = request.get_data(cache=False)
    is_base64 = False
    if data:
        mimetype = request.mimetype
        text: str | None = None
        if not mimetype or _TEXT_MEDIA.match(mimetype):
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        is_base64 = text is None
        event["body"] = base64.b64encode(data).decode() if text is None else text
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event["isBase64Encoded"] = is_base64
    return event


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status=status,
        headers=dict(headers or {}),
        mimetype="application/json",
    )


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """SPEC §3's error body: {"error": {code, message, details}, "requestId"}."""
    body = {"error": {"code": code, "message": message, "details": {}}, "requestId": request_id}
    return json_response(status, body, headers)


def http_response(result: Any) -> Response:
    """A function's payload v2 result as the HTTP response API Gateway would send."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # API Gateway's rule for 2.0: any other JSON value is a 200 with that JSON as body.
        return json_response(200, result)
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int | str):
        raise TypeError(f"statusCode must be a number, not {status!r}")
    body = result.get("body")
    if body is None:
        data = b""
    elif result.get("isBase64Encoded"):
        data = base64.b64decode(str(body))
    else:
        data = str(body).encode()
    response = Response(data, status=int(status))
    del response.headers["Content-Type"]  # only what the function says
    for name, value in (result.get("headers") or {}).items():
        response.headers[str(name)] = str(value)
    for cookie in result.get("cookies") or ():
        response.headers.add("Set-Cookie", str(cookie))
    return response


# -- the server --------------------------------------------------------------------------------


def api_port() -> int:
    """The API's port: `PORT`, or 3000."""
    value = os.environ.get("PORT", "")
    if not value:
        return DEFAULT_PORT
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise RuntimeError(f"PORT must be a port number, not {value!r}")
    return int(value)


def local_environment(endpoint: str, table: str) -> dict[str, str]:
    """What the functions need beyond the template's variables to use the local table."""
    return {
        "TABLE_NAME": table,
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": endpoint,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": LOCAL_ACCESS_KEY,
    }


class _RequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler, its access log in colour only on a terminal."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if sys.stderr.isatty():
            super().log_request(code, size)
        else:
            self.log("info", '"%s" %s %s', self.requestline, code, size)


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler without its access log line per request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def ensure_port_free(host: str, port: int) -> None:
    """Raise RuntimeError, with advice, when something already listens on host:port."""
    if port == 0:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise RuntimeError(
                f"the API cannot listen on {host}:{port} ({error.strerror}): stop what uses "
                "the port, or choose another with PORT=..."
            ) from None


class ApiServer:
    """The local HTTP API: bound on creation, serving from start() until stop().

    `port=0` takes a free port (see `.port`). `environment` is what the functions see beyond
    the template's own variables (see local_environment); it may be changed until start().
    `functions` are the template's functions with their local resources (local/functions.py;
    by default found in `template`, their intrinsics left out), run by `runner`, which the
    stack shares with its event sources. `local_endpoints` answers `/local/*` (local/control.py);
    without it those paths are 404 like any path without a route. `clock` gives each request
    its time (local/clock.py).
    """

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        host: str = HOST,
        *,
        environment: Mapping[str, str] | None = None,
        template: dict[str, Any] | None = None,
        functions: Mapping[str, Function] | None = None,
        runner: FunctionHost | None = None,
        local_endpoints: "LocalEndpoints | None" = None,
        jwt_secret: str | None = None,
        openapi: Path = OPENAPI,
        swagger_ui: Path = SWAGGER_UI,
        console: Path = CONSOLE,
        log_requests: bool = True,
        clock: Clock | None = None,
    ) -> None:
        template = template if template is not None else load_template()
        self.routes = discover_routes(template, functions=functions)
        self.cors = CorsRules.from_template(template)
        self.runner = runner if runner is not None else FunctionHost()
        self.runner.environment.update(environment or {})
        self.environment = self.runner.environment  # one dict: changes reach the runner
        self.local_endpoints = local_endpoints
        self.openapi = openapi
        self.swagger_ui = swagger_ui
        self.console = console
        self.clock = clock or Clock()
        self._secret = jwt_secret or signing_secret()
        self._thread: threading.Thread | None = None
        ensure_port_free(host, port)
        try:
            self._server: BaseWSGIServer = make_server(
                host,
                port,
                self._wsgi,
                threaded=True,
                request_handler=_RequestHandler if log_requests else QuietRequestHandler,
            )
        except SystemExit:  # werkzeug has printed why (a port taken meanwhile) and exits
            raise RuntimeError(f"the API cannot listen on {host}:{port}") from None
        self.host = host
        self.port = int(self._server.server_port)

    @property
    def functions(self) -> dict[str, Function]:
        """The functions behind the routes, by logical id."""
        return {route.function.name: route.function for route in self.routes}

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "ApiServer":
        """Serve in a background thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="local-api",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port (requests under way are not waited for)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> "ApiServer":
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- functions --

    def handler_module(self, function: Function) -> ModuleType:
        """The function's handler module, imported on first use (its cold start)."""
        return self.runner.module(function)

    def invoke(self, route: Route, event: dict[str, Any]) -> Response:
        """Run the route's function on `event`; its result, or a 500 if it fails."""
        request_id = str(event["requestContext"]["requestId"])
        invocation = self.runner.invoke(
            route.function, event, http_response, f"{route.route_key}, API request {request_id}"
        )
        if invocation.succeeded:
            response: Response = invocation.result
            return response
        return error_response(500, "INTERNAL_ERROR", "Internal Server Error", request_id)

    # -- HTTP --

    def _wsgi(self, environ: "WSGIEnvironment", start_response: "StartResponse") -> Iterable[bytes]:
        request = Request(environ)
        request_id = new_request_id()
        # The local endpoints are for this origin alone: no CORS, so a preflight for them
        # reaches them and is refused (405) like any other method they do not take.
        local = self.local_endpoints is not None and request.path.startswith("/local/")
        response = None if local else self.cors.preflight(request)
        if response is None:
            try:
                response = self._respond(request, request_id)
            except Exception:
                traceback.print_exc()
                response = error_response(
                    500, "INTERNAL_ERROR", "Internal Server Error", request_id
                )
            if not local:
                self.cors.decorate(request, response)
        response.headers["apigw-requestid"] = request_id
        return response(environ, start_response)

    def _respond(self, request: Request, request_id: str) -> Response:
        if request.path.startswith("/local/") and self.local_endpoints is not None:
            return self.local_endpoints.respond(request, request_id)
        if self.local_endpoints is not None and request.method in ("GET", "HEAD"):
            # The console is the local stack's, as `/local/*` is: a bare ApiServer is the API.
            if request.path in ("/", "/index.html"):
                return self._console_file(request, "index.html", request_id)
            if request.path == "/config.json":
                # The console's settings (`make console-deploy` uploads AWS's): sign in with
                # the local stack's POST /local/token, the API on this same origin.
                return json_response(200, LOCAL_CONSOLE_CONFIG, {"Cache-Control": "no-cache"})
            if request.path.startswith("/console/"):
                return self._console_file(
                    request, request.path.removeprefix("/console/"), request_id
                )
            if request.path.startswith("/vendor/chart.js/"):
                return self._chart_js_file(
                    request, request.path.removeprefix("/vendor/chart.js/"), request_id
                )
        if request.method in ("GET", "HEAD"):
            if request.path == "/openapi.json":
                return self._openapi_document(request_id)
            if request.path in ("/docs", "/docs/", "/docs/index.html"):
                return Response(_swagger_index(), mimetype="text/html")
            if request.path == "/docs/swagger-initializer.js":
                return Response(_SWAGGER_INITIALIZER, mimetype="text/javascript")
            if request.path.startswith("/docs/"):
                return self._swagger_file(request, request.path.removeprefix("/docs/"), request_id)
        raw_path, _ = _raw_target(request)
        found = find_route(self.routes, request.method, raw_path)
        if found is None:
            return error_response(
                404, "NOT_FOUND", f"No route for {request.method} {raw_path}", request_id
            )
        route, parameters = found
        claims: dict[str, Any] | None = None
        if route.authorized:
            try:
                claims = verify_token(request.headers.get("Authorization"), self._secret)
            except Unauthorized as refused:
                challenge = (
                    f'Bearer scope="" error="invalid_token" error_description="{refused.message}"'
                )
                return error_response(
                    401,
                    "UNAUTHORIZED",
                    refused.message,
                    request_id,
                    {"www-authenticate": challenge},
                )
            granted = str(claims.get("scope", "")).split()
            if route.scopes and not set(route.scopes) & set(granted):
                return error_response(
                    403, "FORBIDDEN", "The token lacks the scope this route needs", request_id
                )
        return self.invoke(
            route, build_event(request, route, parameters, claims, request_id, self.clock())
        )

    # -- docs --

    def _openapi_document(self, request_id: str) -> Response:
        try:
            document = self.openapi.read_bytes()
        except FileNotFoundError:
            return error_response(
                404,
                "NOT_FOUND",
                f"{_shown(self.openapi)} does not exist yet: the OpenAPI document is "
                "generated from the code (see the README)",
                request_id,
            )
        return Response(document, mimetype="application/json")

    def _swagger_file(self, request: Request, name: str, request_id: str) -> Response:
        if not self.swagger_ui.is_dir():
            return error_response(
                404,
                "NOT_FOUND",
                "Swagger UI is not installed: run `npm ci` (make does), for swagger-ui-dist",
                request_id,
            )
        try:
            return send_from_directory(self.swagger_ui, name, request.environ)
        except NotFound:
            return error_response(404, "NOT_FOUND", f"No such file: /docs/{name}", request_id)

    # -- the console --

    def _console_file(self, request: Request, name: str, request_id: str) -> Response:
        try:
            response = send_from_directory(self.console, name, request.environ)
        except NotFound:
            return error_response(404, "NOT_FOUND", f"No such file: /console/{name}", request_id)
        # The files change as the console is worked on; a reload must show the new ones.
        response.headers["Cache-Control"] = "no-cache"
        return response

    def _chart_js_file(self, request: Request, name: str, request_id: str) -> Response:
        if not CHART_JS.is_dir():
            return error_response(
                404,
                "NOT_FOUND",
                "Chart.js is not installed: run `npm ci` (make does), for chart.js",
                request_id,
            )
        try:
            return send_from_directory(CHART_JS, name, request.environ)
        except NotFound:
            return error_response(
                404, "NOT_FOUND", f"No such file: /vendor/chart.js/{name}", request_id
            )


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def _swagger_index() -> str:
    return """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>CRM Points API (local)</title>
    <link rel="stylesheet" href="/docs/swagger-ui.css">
    <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js"></script>
    <script src="/docs/swagger-ui-standalone-preset.js"></script>
    <script src="/docs/swagger-initializer.js"></script>
  </body>
</html>
"""


# Replaces the package's own initializer, which would load the Petstore example from the web.
_SWAGGER_INITIALIZER = """window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
  });
};
"""
