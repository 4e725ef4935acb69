"""The local stack's own endpoints, `/local/*` (SPEC §11). They exist only here: the deployed
stack has no such route, and the API server answers them before looking at the template.

- `POST /local/events` `{"entries": [PutEvents entries]}`: each entry to the rules that match.
- `POST /local/schedules/{name}` `{"time": "2026-01-31T22:30:00Z"}`: the schedule's function.
- `POST /local/drain` (optional `{"timeoutSeconds": n}`): once every change so far is processed;
  503 SERVICE_UNAVAILABLE, with what failed, when a source cannot be read.
- `GET /local/outbox`: the e-mails and SMS sent.
- `POST /local/token` `{"userId": "alice", "role": "MANAGER"}`: a token signed as
  local/token.py signs them, for the console's local sign-in (docs/console.md).

Errors are SPEC §3's format: 422 VALIDATION_ERROR for a bad body, 404 NOT_FOUND for an
unknown schedule or path, 405 METHOD_NOT_ALLOWED for a known path with another method.

They take no token, so no other web page may reach them through the browser of whoever runs
the stack (a page can send a form or a text/plain POST anywhere without asking): a POST must
be `Content-Type: application/json` (415 UNSUPPORTED_MEDIA_TYPE otherwise), which a page of
another origin can send only after a CORS preflight, and the API server refuses every
preflight for `/local/*`; a request whose `Origin` is not the server's own, or whose `Host`
is not a loopback name (a DNS-rebound page), is 403 FORBIDDEN. Either way nothing is done.
"""

import json
import re
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from werkzeug.wrappers import Request, Response

import local.paths  # noqa: F401  (puts crm_points on the path)
from crm_points.ledger_store import LedgerStore
from crm_points.permissions import Role, is_caller_subject
from deploy.redrive import (
    STREAM_FUNCTION,
    Action,
    Invoke,
    Outcome,
    PutEvent,
    ReplayStream,
    redrive,
    replay_stream,
)
from local.bus import BusDispatcher
from local.clock import Clock
from local.event_sources import DEFAULT_DRAIN_TIMEOUT_S, EventSources
from local.lambda_events import eventbridge_event
from local.outbox import Outbox
from local.schedules import Scheduler
from local.token import make_token

# How long a console sign-in lasts; after it the API answers 401 and the console signs out.
CONSOLE_TOKEN_MINUTES = 60

# EventBridge's own limits on a PutEvents request.
MAX_ENTRIES = 10

# The names the server is reached by on this machine; any other `Host` is a name that some
# site's DNS points at 127.0.0.1 to make its page "same-origin" with the stack.
_LOOPBACK_HOST = re.compile(r"^(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?$")


class PutEventsEntry(BaseModel):
    """One entry of EventBridge's PutEvents, with its field names."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    source: str = Field(alias="Source", min_length=1, max_length=256)
    detail_type: str = Field(alias="DetailType", min_length=1, max_length=128)
    detail: str = Field(alias="Detail", min_length=1)
    time: str | None = Field(default=None, alias="Time")
    event_bus_name: str | None = Field(default=None, alias="EventBusName", min_length=1)
    resources: list[str] = Field(default_factory=list, alias="Resources")
    trace_header: str | None = Field(default=None, alias="TraceHeader")

    @field_validator("detail")
    @classmethod
    def _detail_is_a_json_object(cls, value: str) -> str:
        try:
            parsed = json.loads(value)
        except ValueError:
            raise ValueError("Detail must be a JSON object in a string") from None
        if not isinstance(parsed, dict):
            raise ValueError("Detail must be a JSON object in a string")
        return value

    @field_validator("time")
    @classmethod
    def _time_is_iso_8601(cls, value: str | None) -> str | None:
        if value is not None:
            parse_time(value)
        return value

    def event(self, region: str) -> dict[str, Any]:
        """The event a rule's Lambda target receives for this entry."""
        return eventbridge_event(
            self.source,
            self.detail_type,
            json.loads(self.detail),
            region,
            time=parse_time(self.time) if self.time is not None else None,
            resources=self.resources,
        )


class PutEventsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: Annotated[list[PutEventsEntry], Field(min_length=1, max_length=MAX_ENTRIES)]


class ScheduleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    time: str

    @field_validator("time")
    @classmethod
    def _time_is_iso_8601(cls, value: str) -> str:
        parse_time(value)
        return value


class RedriveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: str = Field(min_length=1, max_length=80)
    dry_run: bool = Field(default=False, alias="dryRun", strict=True)


class DrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout_seconds: float = Field(
        default=DEFAULT_DRAIN_TIMEOUT_S, alias="timeoutSeconds", gt=0, le=600
    )


def _caller_subject(user_id: str) -> str:
    """A user the API takes as a token's subject (crm_points.permissions)."""
    if not is_caller_subject(user_id):
        raise ValueError(
            "a user is letters, digits and . _ @ + - (starting with a letter or digit), "
            "and not 'system'"
        )
    return user_id


class TokenRequest(BaseModel):
    """A local sign-in: who, and in which role (one of crm_points.permissions.Role)."""

    model_config = ConfigDict(extra="forbid")

    user_id: Annotated[str, AfterValidator(_caller_subject)] = Field(alias="userId")
    role: Role


def parse_time(value: str) -> datetime:
    """An ISO 8601 date and time with its offset (`Z` or `+02:00`), as UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not an ISO 8601 date and time, e.g. 2026-01-31T22:30:00Z"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone: give it as UTC, e.g. 2026-01-31T22:30:00Z")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} is beyond the years that can be held") from None


def _error(
    status: int, code: str, message: str, request_id: str, details: dict[str, Any] | None = None
) -> Response:
    body = {
        "error": {"code": code, "message": message, "details": details or {}},
        "requestId": request_id,
    }
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _ok(body: Any) -> Response:
    return Response(json.dumps(body, default=str), status=200, mimetype="application/json")


def _invalid(error: ValidationError, request_id: str) -> Response:
    problems = [
        {
            "field": ".".join(str(part) for part in problem["loc"]) or "(body)",
            "problem": problem["msg"].removeprefix("Value error, "),
        }
        for problem in error.errors(include_url=False)
    ]
    message = "; ".join(f"{item['field']}: {item['problem']}" for item in problems)
    return _error(422, "VALIDATION_ERROR", message, request_id, {"errors": problems})


class _BadBody(Exception):
    pass


def _json_body(request: Request) -> Any:
    data = request.get_data(cache=False)
    if not data.strip():
        return {}
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise _BadBody from None


class LocalEndpoints:
    """Answers `/local/*` with the stack's bus, scheduler, event sources and outbox."""

    def __init__(
        self,
        bus: BusDispatcher,
        scheduler: Scheduler,
        event_sources: EventSources,
        outbox: Outbox,
        clock: Clock,
    ) -> None:
        self.bus = bus
        self.scheduler = scheduler
        self.event_sources = event_sources
        self.outbox = outbox
        self.clock = clock

    def respond(self, request: Request, request_id: str) -> Response:
        """The answer to a request for `/local/...`."""
        path = request.path.rstrip("/")
        found = self._endpoint(path, request, request_id)
        if found is None:
            return _error(404, "NOT_FOUND", f"No local endpoint {request.path}", request_id)
        method, action = found
        return (
            self._only(method, request, request_id)
            or self._refuse_cross_site(request, request_id)
            or action()
        )

    def _endpoint(
        self, path: str, request: Request, request_id: str
    ) -> tuple[str, Callable[[], Response]] | None:
        """The method `path` takes and what answers it; None for no such endpoint."""
        if path == "/local/events":
            return "POST", lambda: self._events(request, request_id)
        if path.startswith("/local/schedules/") and path.count("/") == 3:
            name = path.rpartition("/")[2]
            return "POST", lambda: self._schedule(request, name, request_id)
        if path == "/local/drain":
            return "POST", lambda: self._drain(request, request_id)
        if path == "/local/token":
            return "POST", lambda: self._token(request, request_id)
        if path == "/local/redrive":
            return "POST", lambda: self._redrive(request, request_id)
        if path == "/local/outbox":
            return "GET", lambda: _ok({"messages": self.outbox.messages()})
        return None

    @staticmethod
    def _refuse_cross_site(request: Request, request_id: str) -> Response | None:
        """A refusal for what another site's page could have sent; None for the others."""
        if request.method == "POST" and request.mimetype != "application/json":
            return _error(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                f"{request.path} takes a JSON body with Content-Type: application/json, not "
                f"{request.mimetype or 'none'}",
                request_id,
            )
        host = request.headers.get("Host", "")
        if not _LOOPBACK_HOST.match(host):
            return _error(
                403,
                "FORBIDDEN",
                f"The local endpoints answer requests to 127.0.0.1 or localhost, not {host!r}",
                request_id,
            )
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"http://{host}":
            return _error(
                403,
                "FORBIDDEN",
                f"The local endpoints answer pages of http://{host} only, not {origin!r}",
                request_id,
            )
        return None

    @staticmethod
    def _only(method: str, request: Request, request_id: str) -> Response | None:
        if request.method == method or (method == "GET" and request.method == "HEAD"):
            return None
        response = _error(
            405,
            "METHOD_NOT_ALLOWED",
            f"{request.path} takes {method}, not {request.method}",
            request_id,
        )
        response.headers["Allow"] = method
        return response

    def _parse(self, model: type[BaseModel], request: Request, request_id: str) -> Any:
        try:
            return model.model_validate(_json_body(request))
        except _BadBody:
            return _error(422, "VALIDATION_ERROR", "The body is not JSON", request_id)
        except ValidationError as error:
            return _invalid(error, request_id)

    def _events(self, request: Request, request_id: str) -> Response:
        parsed = self._parse(PutEventsRequest, request, request_id)
        if isinstance(parsed, Response):
            return parsed
        answered = []
        failures = 0
        for entry in parsed.entries:
            bus = self.bus.resources.bus_name(entry.event_bus_name or self.bus.default_bus())
            event = entry.event(self.bus.resources.region)
            deliveries = [delivery.summary() for delivery in self.bus.deliver(bus, event)]
            failures += sum(1 for delivery in deliveries if not delivery["succeeded"])
            answered.append({"eventId": event["id"], "eventBusName": bus, "deliveries": deliveries})
        return _ok({"entries": answered, "failedDeliveryCount": failures})

    def _schedule(self, request: Request, name: str, request_id: str) -> Response:
        if name not in self.scheduler.schedules:
            known = ", ".join(sorted(self.scheduler.schedules)) or "none"
            return _error(
                404, "NOT_FOUND", f"No schedule named {name!r} (schedules: {known})", request_id
            )
        parsed = self._parse(ScheduleRequest, request, request_id)
        if isinstance(parsed, Response):
            return parsed
        return _ok(self.scheduler.run(name, parse_time(parsed.time)).summary())

    def _redrive(self, request: Request, request_id: str) -> Response:
        parsed = self._parse(RedriveRequest, request, request_id)
        if isinstance(parsed, Response):
            return parsed
        if parsed.queue not in self.bus.resources.queue_urls:
            return _error(404, "NOT_FOUND", f"No queue {parsed.queue!r} in the stack", request_id)
        outcome = self.redrive(parsed.queue, parsed.dry_run)
        return _ok({"queue": parsed.queue, "dryRun": parsed.dry_run, **outcome.summary()})

    def redrive(self, queue: str, dry_run: bool = False) -> Outcome:
        """Replay a dead-letter queue (its logical id) of the local stack (deploy.redrive)."""
        sqs = self.bus.services.client("sqs")
        return redrive(sqs, self.bus.resources.queue_urls[queue], queue, self._replay, dry_run)

    def _replay(self, action: Action) -> None:
        """Carry out a redrive's action on the local stack, as AWS would accept it: an
        event put on the bus, a daily run started, the stream function given what a window
        of the stream held, a message sent back to its queue."""
        if isinstance(action, PutEvent):
            entry = PutEventsEntry.model_validate(action.entry(self.bus.default_bus()))
            bus = self.bus.resources.bus_name(entry.event_bus_name)
            self.bus.deliver(bus, entry.event(self.bus.resources.region))
        elif isinstance(action, Invoke):
            run = self.scheduler.run(
                str(action.payload["schedule"]), parse_time(action.payload["time"])
            )
            if not run.invocation.succeeded:
                raise RuntimeError(f"the daily run failed again: {run.invocation.error()}")
        elif isinstance(action, ReplayStream):
            stream = self.event_sources.stream_of(STREAM_FUNCTION)
            ledger = LedgerStore(stream.dynamodb, stream.table_name)
            replay_stream(action, ledger.written_between, stream.invoke)
        else:
            url = self.bus.resources.queue_urls[action.queue]
            self.bus.services.client("sqs").send_message(QueueUrl=url, MessageBody=action.body)

    def _token(self, request: Request, request_id: str) -> Response:
        parsed = self._parse(TokenRequest, request, request_id)
        if isinstance(parsed, Response):
            return parsed
        token = make_token(parsed.role, parsed.user_id, minutes=CONSOLE_TOKEN_MINUTES)
        # The token's own expiry is on the machine's clock (its verifier's); the console
        # compares `expiresAt` with the browser's clock, which agrees with the stack's.
        expires = self.clock().timestamp() + CONSOLE_TOKEN_MINUTES * 60
        return _ok(
            {
                "token": token,
                "userId": parsed.user_id,
                "role": parsed.role.value,
                "expiresAt": datetime.fromtimestamp(expires, UTC).isoformat(),
            }
        )

    def _drain(self, request: Request, request_id: str) -> Response:
        parsed = self._parse(DrainRequest, request, request_id)
        if isinstance(parsed, Response):
            return parsed
        try:
            drained = self.event_sources.drain(parsed.timeout_seconds)
        except Exception as error:
            # The trace is for the stack's own log; the caller gets what failed, as JSON.
            traceback.print_exc()
            drained = {
                "caughtUp": False,
                "errors": [
                    {
                        "source": "drain",
                        "errorType": type(error).__name__,
                        "errorMessage": str(error),
                    }
                ],
            }
        if not drained.get("errors"):
            return _ok(drained)
        # The stack could not read its sources (DynamoDB Local's stream, moto's queues): not
        # a failing function, which a 200 reports, but a stand-in that is not answering.
        failed = "; ".join(
            f"{error['source']}: {error['errorType']}: {error['errorMessage']}"
            for error in drained["errors"]
        )
        return _error(
            503,
            "SERVICE_UNAVAILABLE",
            f"The drain could not read every source: {failed}",
            request_id,
            drained,
        )
