"""Schemathesis against the committed OpenAPI document, through the local API server.

docs/openapi.json is loaded as it is committed and run the way `st run --checks all` runs it
(schemathesis' engine, in this process): every phase (examples, coverage, fuzzing, stateful),
every check schemathesis has (server errors; status codes, content types, schemas and headers
of responses; negative data rejected, positive data accepted; missing required headers,
undeclared methods, ignored auth, ...). The requests go over HTTP to local/api_server.py,
which runs the real handlers on DynamoDB Local. Each run has a table of its own on the
session's DynamoDB Local (it changes the configuration and writes entries, which other tests
must not see), seeded with customers whose ids the generator tries first.

It runs twice: as an ADMIN, whose valid Idempotency-Keys get a suffix naming the request (as
a client makes a key per request) so that writes reach the ledger; and as a MANAGER, whose
keys repeat as generated, which tries replays and reused keys, and whose permission refusals
are themselves checked against the document.

The verdict: in each run, at least 1,000 generated requests, no 5xx, no failed check.
Generation is deterministic (a fixed seed, derandomized Hypothesis), so a failure reproduces.

Where the API is right and a check cannot know it from a JSON schema, `_allowed` lets the
failure through, narrowly (by check, and by the API's own error code and field), never by
turning a check off:
- positive_data_acceptance: a 422 for a schema-valid request that breaks a rule no JSON
  schema states: an Idempotency-Key used before for another request
  (IDEMPOTENCY_KEY_REUSED), a `cursor` the API did not issue (cursors are opaque), an expiry
  date not later than today, `offset` together with `cursor`, `dateFrom` after `dateTo`, a
  recovery of an entry that is not an EXPIRE, an analytics `month` that has not begun yet,
  a finance report's `from` or `to` not begun, `from` after `to` or over 120 months,
  a date outside the years 2000 to 2199 (JSON Schema's date format has no bounds), an
  `opsTopicArn` of another account or region than the deployment's.
- unsupported_method: a method a path does not have answers 404 NOT_FOUND (no route
  matches), as API Gateway's HTTP API does, where the check expects 405.
"""

import hashlib
import http.client
import json
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import schemathesis
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure
from schemathesis.engine import events, from_schema
from schemathesis.openapi.checks import RejectedPositiveData, UnsupportedMethodResponse

from crm_points.config import PointsConfig
from crm_points.ledger_service import PointsService, Request
from crm_points.ledger_store import LedgerStore
from crm_points.records import Actor, CustomerProfile
from crm_points.runtime import runtime
from crm_points.validation import FIRST_DAY, LAST_DAY
from local.aws_services import AwsServices
from local.dynamodb_local import client
from local.stack import build_stack
from local.template import create_table, load_template
from local.token import make_token
from tests.api import CLOCK

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "docs" / "openapi.json"
pytestmark = pytest.mark.filterwarnings("ignore::jwt.InsecureKeyLengthWarning")

SEED = 20261124
# Hypothesis examples per operation (and phase). With it each run makes some 1,800 requests,
# in about 20 seconds here (the local server runs one invocation at a time).
MAX_EXAMPLES = 50
MINIMUM_REQUESTS = 1000
# Ids the generator tries first (the smallest strings of [A-Za-z0-9_-]) and a realistic one.
SEEDED_CUSTOMERS = ("0", "00", "A", "cust-1")
_VALID_KEY = re.compile(r"[\x21-\x7e]{1,240}")


@dataclass
class Outcome:
    """What one run saw: requests by operation and status, failures, errors."""

    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    allowed: Counter[str] = field(default_factory=Counter)
    checks: Counter[str] = field(default_factory=Counter)
    stop_reason: str = ""

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def server_errors(self) -> dict[tuple[str, int], int]:
        return {key: n for key, n in self.statuses.items() if key[1] >= 500}


def _error_of(body: bytes) -> tuple[str, dict[str, Any]]:
    """The code and details of a §3 error body ("", {} if it is not one)."""
    try:
        error = json.loads(body)["error"]
        return str(error["code"]), dict(error.get("details") or {})
    except (ValueError, KeyError, TypeError):
        return "", {}


def _allowed(failure: Failure, content: bytes) -> str | None:
    """Why this failure is the API being right where a JSON schema cannot say so (see the
    module's doc), or None: the failure stands."""
    if isinstance(failure, UnsupportedMethodResponse):
        if failure.status_code == 404 and failure.failure_reason == "wrong_status":
            return "undeclared method: 404 as API Gateway answers"
        return None
    if isinstance(failure, RejectedPositiveData):
        code, details = _error_of(content)
        if code == "IDEMPOTENCY_KEY_REUSED":
            return "positive data: idempotency key used before for another body"
        if code == "VALIDATION_ERROR" and details.get("field") == "cursor":
            return "positive data: a cursor the API did not issue"
        if code == "VALIDATION_ERROR" and details.get("field") in ("expiryDate", "newExpiryDate"):
            return "positive data: an expiry date not later than today"
        if code == "VALIDATION_ERROR" and details.get("field") in ("offset", "dateFrom"):
            return "positive data: offset with cursor, or dateFrom after dateTo"
        if code == "VALIDATION_ERROR" and {"transactionId", "type"} <= details.keys():
            return "positive data: recovering an entry that is not an EXPIRE"
        if code == "VALIDATION_ERROR" and details.get("field") in ("month", "asOf"):
            return "positive data: an analytics month that has not begun yet"
        if code == "VALIDATION_ERROR" and details.get("field") in ("from", "to"):
            return "positive data: a finance range not begun, reversed, or over 120 months"
        if code == "VALIDATION_ERROR" and details.get("field") == "opsTopicArn":
            return "positive data: an SNS topic of another account or region"
        problems = details.get("errors") or [{}]
        if code == "VALIDATION_ERROR" and all(
            f"a date must lie between {FIRST_DAY} and {LAST_DAY}" in str(problem.get("message"))
            for problem in problems
        ):
            return "positive data: a date outside the years the product works in"
    return None


def _seed(service: PointsService) -> None:
    """Customers with points, a profile to find by e-mail, a pending approval."""
    now = CLOCK()
    manager = Actor(user_id="seed-manager", role="MANAGER")

    def request(key: str) -> Request:
        return Request(actor=manager, request_id=f"seed-{key}", now=now, idempotency_key=key)

    for customer in SEEDED_CUSTOMERS:
        service.award(
            request(f"seed-award-{customer}"),
            customer_id=customer,
            amount=1500,
            reason="Seeded for schemathesis",
            expiry_date=now + timedelta(days=90),
        )
        service.award(
            request(f"seed-bonus-{customer}"),
            customer_id=customer,
            amount=250,
            reason="Seeded bonus",
        )
        service.admin.put_profile(
            CustomerProfile(
                customer_id=customer,
                email=f"{customer}@example.com",
                first_name="Seeded",
                updated_at=now,
            )
        )
        service.request_deduction(
            request(f"seed-approval-{customer}"),
            customer_id=customer,
            amount=100,
            reason="Seeded pending deduction",
        )


@pytest.fixture(params=["ADMIN", "MANAGER"])
def api(
    request: pytest.FixtureRequest,
    dynamodb_endpoint: str,
    aws_services: AwsServices,
    tmp_path: Path,
) -> Iterator[tuple[str, str]]:
    """The local stack's server on a free port over a seeded table of this run's own (the
    functions see its queues, as `make run`'s do); yields the role and the server's URL."""
    role = str(request.param)
    table = f"crm-points-schemathesis-{role.lower()}-{uuid.uuid4().hex[:8]}"
    dynamodb = client(dynamodb_endpoint)
    create_table(dynamodb, table)
    _seed(PointsService(LedgerStore(dynamodb, table), PointsConfig(), sleep=lambda _: None))
    runtime.cache_clear()
    stack = build_stack(
        load_template(),
        services=aws_services,
        dynamodb_endpoint=dynamodb_endpoint,
        table_name=table,
        state_dir=tmp_path,
        prefix=f"fuzz{uuid.uuid4().hex[:6]}-",
    )
    server = stack.api_server(0, log_requests=False)
    try:
        with server:
            yield role, server.url
    finally:
        runtime.cache_clear()
        dynamodb.delete_table(TableName=table)


def _digest(case: schemathesis.Case[Any]) -> str:
    """A short digest of what a request asks: the same for a replay, new for another."""
    asked = repr((case.method, case.path, case.path_parameters, case.query, case.body))
    return hashlib.sha256(asked.encode()).hexdigest()[:16]


def run_schemathesis(base_url: str, token: str, fresh_keys: bool) -> Outcome:
    """`st run --checks all` on docs/openapi.json against `base_url`, in this process. With
    `fresh_keys`, a valid generated Idempotency-Key gets a suffix naming the request (as a
    client makes a key per request), so that writes reach the ledger instead of meeting a
    key used before for another body."""
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "base-url": base_url,
            "headers": {"Authorization": f"Bearer {token}"},
            "workers": 1,
            "continue-on-failure": True,
            "request-timeout": 30,
            "cache": {"enabled": False},
            "generation": {
                "mode": "all",  # positive and negative data
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "checks": {"enabled": True, "max_response_time": 15},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": True},
            },
        }
    )
    schema = schemathesis.openapi.from_path(OPENAPI, config=config)
    outcome = Outcome()

    if fresh_keys:

        @schema.hook
        def map_case(
            context: schemathesis.HookContext, case: schemathesis.Case[Any]
        ) -> schemathesis.Case[Any]:
            for name, value in (case.headers or {}).items():
                if name.lower() == "idempotency-key" and _VALID_KEY.fullmatch(str(value)):
                    case.headers[name] = f"{value}.{_digest(case)}"
            return case

    @schema.hook
    def after_call(
        context: schemathesis.HookContext,
        case: schemathesis.Case[Any],
        response: schemathesis.Response,
    ) -> None:
        outcome.statuses[(f"{case.method.upper()} {case.path}", response.status_code)] += 1

    @schema.hook
    def filter_failure(
        context: schemathesis.HookContext,
        failure: Failure,
        case: schemathesis.Case[Any],
        response: schemathesis.Response,
    ) -> bool:
        reason = _allowed(failure, response.content)
        if reason is not None:
            outcome.allowed[reason] += 1
        return reason is None

    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    outcome.checks[check.name] += 1
                    if check.failure_info is None:
                        continue
                    interaction = event.recorder.interactions.get(case_id)
                    answer = interaction.response if interaction else None
                    outcome.failures.append(
                        f"{event.recorder.label}: {check.name}: {check.failure_info.failure.title}"
                        f"\n{check.failure_info.failure.message}"
                        f"\n{check.failure_info.code_sample}"
                        + (
                            f"\n-> {answer.status_code} {answer.content[:500]!r}"
                            if answer is not None
                            else ""
                        )
                    )
        elif isinstance(event, events.NonFatalError):
            outcome.errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            outcome.errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.EngineFinished):
            outcome.stop_reason = str(event.stop_reason)
            outcome.failures.extend(f"after run: {f.title}\n{f.message}" for f in event.failures)
    return outcome


def test_the_api_keeps_its_openapi_document(api: tuple[str, str]) -> None:
    role, base_url = api
    # The ADMIN's writes use new keys and go through; the MANAGER's keys repeat as generated,
    # which tries replays and reused keys.
    token = make_token(role, f"schemathesis-{role.lower()}")
    outcome = run_schemathesis(base_url, token, fresh_keys=role == "ADMIN")

    print(
        f"\n{role}: {outcome.requests} requests, statuses "
        f"{dict(sorted(Counter(status for _, status in outcome.statuses.elements()).items()))}, "
        f"failures let through: {dict(outcome.allowed)}, checks: {dict(outcome.checks)}"
    )
    assert not outcome.errors, "\n\n".join(outcome.errors)
    assert not outcome.failures, f"{len(outcome.failures)} failures:\n\n" + "\n\n".join(
        dict.fromkeys(outcome.failures)
    )
    assert not outcome.server_errors(), outcome.server_errors()
    assert outcome.stop_reason == "completed"
    load_all_checks()
    assert set(CHECKS.get_all_names()) <= set(outcome.checks), "checks that did not run"
    # The issue asks for a thousand generated requests; each role's run alone makes them.
    assert outcome.requests >= MINIMUM_REQUESTS, outcome.requests
    # Every operation of the document was called, and answered something other than 401.
    operations = {
        f"{method.upper()} {path}"
        for path, item in json.loads(OPENAPI.read_text())["paths"].items()
        for method in item
    }
    answered = {operation for (operation, status) in outcome.statuses if status != 401}
    assert operations <= answered, operations - answered


@pytest.mark.parametrize("api", ["ADMIN"], indirect=True)
def test_what_schemathesis_found_stays_fixed(api: tuple[str, str]) -> None:
    """Requests that schemathesis found answered with a 5xx or against the document, each
    kept here in its simplest form (the generated run need not hit each one again)."""
    role, base_url = api
    token = make_token(role, "schemathesis-examples")

    def call(
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
        if method in ("POST", "PUT"):
            headers["Idempotency-Key"] = key or f"example-{uuid.uuid4().hex}"
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        connection = http.client.HTTPConnection(urlsplit(base_url).netloc, timeout=30)
        try:
            connection.request(method, f"/api/crm{path}", body=data, headers=headers)
            answer = connection.getresponse()
            return answer.status, json.loads(answer.read())
        finally:
            connection.close()

    award = {"customerId": "cust-1", "amount": 5, "reason": "Example"}
    # Bodies Powertools could not read were a 500: a multipart type without a boundary, bytes
    # that are not UTF-8 under application/json.
    assert call("POST", "/points/award", award, content_type="multipart/form-data")[0] == 422
    assert call("POST", "/points/award", raw=b'{"\xff":1}')[0] == 422
    # An integer is any number without a fraction, as in JSON Schema.
    assert call("POST", "/points/award", {**award, "amount": 5.0})[0] == 201
    # A reason's length counts what is sent.
    assert call("POST", "/points/award", {**award, "reason": "x" * 500 + " "})[0] == 422
    # Dates are ISO 8601 (0.5 was a Unix time); years outside 2000 to 2199, days and moments
    # whose bounds in UTC fall outside the years 1 to 9999 among them, are a 422 (were a 500).
    assert call("GET", "/points/transactions?dateTo=0.5")[0] == 422
    assert call("GET", "/points/transactions?dateFrom=0708-05-18T22:08:00Z")[0] == 422
    assert call("GET", "/points/transactions?dateTo=0001-01-01T00:00:00%2B05:00")[0] == 422
    assert call("GET", "/points/transactions?dateTo=9999-12-31")[0] == 422
    assert call("GET", "/points/transactions?dateTo=2199-12-31")[0] == 200
    # U+0085 is not whitespace to the document's pattern (ECMA regex).
    assert call("GET", "/customers?email=a%C2%85b@example.com")[0] == 200
    # Settings take their type and limits: no null, no text for a number, 4 decimals at most.
    for change in ({"earnRate": "1.5"}, {"highExpirationRatePct": 1e-200}, {"validityDays": None}):
        assert call("PUT", "/points/config", change)[0] == 422, change
    status, settings = call("PUT", "/points/config", {"validityDays": 400.0})
    assert (status, settings["validityDays"]) == (200, 400)
    # A decided approval answers the request that decided it, refuses another request with
    # its key, and refuses another decision (a replay used to be a 500).
    pending = call("GET", "/points/approvals?status=PENDING")[1]["approvals"][0]["approvalId"]
    first = call(
        "POST", f"/points/approvals/{pending}/reject", {"reason": "Not now"}, key="decided"
    )
    assert first[0] == 200
    assert (
        call("POST", f"/points/approvals/{pending}/reject", {"reason": "Not now"}, key="decided")
        == first
    )
    again = call(
        "POST", f"/points/approvals/{pending}/reject", {"reason": "Not ever"}, key="decided"
    )
    assert (again[0], again[1]["error"]["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    other = call("POST", f"/points/approvals/{pending}/approve", {"reason": "Fine by me"})
    assert (other[0], other[1]["error"]["code"]) == (409, "CONFLICT")
