"""The read functions' real handlers, driven with API Gateway HTTP API events from events/."""

import json
from typing import Any

import pytest

from tests.api import ROOT, LambdaContext, handler
from tests.conftest import START, request


def api_event(name: str, customer_id: str, **changes: Any) -> dict[str, Any]:
    """A sample event from events/, pointed at one customer."""
    event: dict[str, Any] = json.loads((ROOT / "events" / f"{name}.json").read_text())
    for key in ("rawPath",):
        event[key] = event[key].replace("demo-001", customer_id)
    event["requestContext"]["http"]["path"] = event["rawPath"]
    event["pathParameters"] = {"customerId": customer_id}
    event.update(changes)
    return event


def with_claims(event: dict[str, Any], claims: dict[str, Any] | None) -> dict[str, Any]:
    if claims is None:
        event["requestContext"].pop("authorizer")
    else:
        event["requestContext"]["authorizer"]["jwt"]["claims"] = claims
    return event


def invoke(function: str, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = handler(function).lambda_handler(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"])


def test_summary_has_every_field_of_the_seed_in_one_query(lambda_env, service, customer_id):
    service.award(request(), customer_id=customer_id, amount=12_450, reason="Seed figures")
    lambda_env.reset()
    status, body = invoke("customer_points", api_event("get_customer_points", customer_id))
    assert status == 200
    assert lambda_env.calls == {"Query": 1}
    assert set(body) == {
        "customerId",
        "currentBalance",
        "expiringBalance",
        "expiringWindowDays",
        "pointsValue",
        "lifetimeEarned",
        "lifetimeRedeemed",
        "lifetimeExpired",
        "recentTransactions",
        "expirationSchedule",
        "laterExpirations",
    }
    assert body["currentBalance"] == 12_450
    assert body["pointsValue"] == 124.5
    assert body["recentTransactions"][0]["type"] == "AWARD"
    assert body["recentTransactions"][0]["balanceAfter"] == 12_450
    assert body["expirationSchedule"] == [
        {
            "amount": 12_450,
            "expiryDate": (START.date().replace(year=2027)).isoformat(),
            "pointBatchId": body["recentTransactions"][0]["pointBatchId"],
        }
    ]


def test_summary_of_unknown_customer_is_404_in_the_error_format(lambda_env, customer_id):
    status, body = invoke("customer_points", api_event("get_customer_points", customer_id))
    assert status == 404
    assert body["error"]["code"] == "NOT_FOUND"
    assert body["requestId"] == "Y5kQWjLrJoEEMTw="


@pytest.mark.parametrize(
    ("claims", "status", "code"),
    [
        (None, 401, "UNAUTHORIZED"),
        ({"sub": "u-1", "cognito:groups": "[CUSTOMER]"}, 401, "UNAUTHORIZED"),
        ({"cognito:groups": "[ADMIN]"}, 401, "UNAUTHORIZED"),
        # A subject that would look like another in the audit, or be the ledger's own actor.
        *(
            ({"sub": subject, "cognito:groups": "[ADMIN]"}, 401, "UNAUTHORIZED")
            for subject in (
                "alice ",
                " alice",
                "   ",
                "al\u0000ice",
                "al\u202eice",
                "system",
                "SYSTEM",
                "",
                7,
            )
        ),
        # Groups as API Gateway passes Cognito's list ("[A B]"), and nothing looser.
        *(
            ({"sub": "u-1", "cognito:groups": groups}, 401, "UNAUTHORIZED")
            for groups in (
                "ADMIN",
                "SUPPORT_AGENT,ADMIN",
                " ADMIN",
                " [ADMIN]",
                "[ ADMIN]",
                "[SUPPORT_AGENT,ADMIN]",
                "[[ADMIN]]",
                '["ADMIN"]',
                ["ADMIN"],
                [["ADMIN"]],
            )
        ),
    ],
)
def test_callers_without_a_crm_role_are_refused(lambda_env, customer_id, claims, status, code):
    event = with_claims(api_event("get_customer_points", customer_id), claims)
    assert invoke("customer_points", event) == (
        status,
        {
            "error": {
                "code": code,
                "message": "A verified token with a CRM role is required",
                "details": {},
            },
            "requestId": "Y5kQWjLrJoEEMTw=",
        },
    )


@pytest.mark.parametrize("role", ["SUPPORT_AGENT", "MANAGER", "ADMIN", "BOOKING_SYSTEM"])
def test_every_role_may_view_points(lambda_env, service, customer_id, role):
    service.award(request(), customer_id=customer_id, amount=5, reason="Points")
    event = with_claims(
        api_event("get_customer_points", customer_id), {"sub": "u-1", "cognito:groups": f"[{role}]"}
    )
    assert invoke("customer_points", event)[0] == 200


@pytest.mark.parametrize(
    "authorization", ["eyJhbGciOiJSUzI1NiJ9.redacted.signature", "Basic x", ""]
)
def test_a_token_not_sent_as_a_bearer_token_is_refused(lambda_env, customer_id, authorization):
    """API Gateway's JWT authorizer also takes a bare token; the API's contract is Bearer."""
    event = api_event("get_customer_points", customer_id)
    event["headers"]["authorization"] = authorization
    assert invoke("customer_points", event)[0] == 401


def test_a_caller_in_several_groups_has_the_strongest_role(lambda_env, service, customer_id):
    service.award(request(), customer_id=customer_id, amount=5, reason="Points")
    claims = {"sub": "u-1", "cognito:groups": "[us-east-1_x_Google SUPPORT_AGENT MANAGER]"}
    event = with_claims(api_event("get_customer_points", customer_id), claims)
    assert invoke("customer_points", event)[0] == 200


def test_malformed_customer_id_is_a_validation_error(lambda_env):
    event = api_event("get_customer_points", "bad%20id")
    event["pathParameters"] = {"customerId": "bad id!"}
    status, body = invoke("customer_points", event)
    assert status == 422
    assert body["error"]["code"] == "VALIDATION_ERROR"


def test_history_pages_newest_first_one_query_per_page(lambda_env, service, customer_id):
    for amount in range(1, 8):
        service.award(request(), customer_id=customer_id, amount=amount, reason="Points")
    lambda_env.reset()
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        event = api_event("get_customer_transactions", customer_id, queryStringParameters=query)
        status, body = invoke("customer_transactions", event)
        assert status == 200
        pages += 1
        seen.extend(entry["points"] for entry in body["transactions"])
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    assert lambda_env.calls == {"Query": pages}
    assert pages == 3


@pytest.mark.parametrize(
    "query", [{"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"cursor": "not-a-cursor"}]
)
def test_history_rejects_bad_paging(lambda_env, service, customer_id, query):
    service.award(request(), customer_id=customer_id, amount=5, reason="Points")
    event = api_event("get_customer_transactions", customer_id, queryStringParameters=query)
    status, body = invoke("customer_transactions", event)
    assert (status, body["error"]["code"]) == (422, "VALIDATION_ERROR")
