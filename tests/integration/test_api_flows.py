"""The seed's CRM flows end to end through the real handlers, on DynamoDB Local."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from crm_points.dynamo import to_item
from crm_points.ledger_service import PointsService
from crm_points.ledger_store import INDEX_SHARDS, customer_pk, encode_key, index_shard
from crm_points.records import Actor
from crm_points.runtime import runtime
from crm_points.validation import business_day
from tests.api import CLOCK, ROOT, call
from tests.conftest import request

TODAY = CLOCK()


def award(customer_id: str, amount: int, expiry: str | None = None, **kwargs):
    body = {"customerId": customer_id, "amount": amount, "reason": "Bonus points"}
    if expiry:
        body["expiryDate"] = expiry
    return call("POST", "/api/crm/points/award", body=body, **kwargs)


def day(days: int) -> str:
    return (TODAY + timedelta(days=days)).date().isoformat()


def test_award_then_summary_then_history_with_running_balances(lambda_env, customer_id):
    assert award(customer_id, 500).status == 201
    soon = award(customer_id, 300, expiry=day(10)).body["transactions"][0]["pointBatchId"]
    summary = call("GET", f"/api/crm/customers/{customer_id}/points").body
    assert summary["currentBalance"] == 800
    assert summary["expiringBalance"] == 300
    assert summary["pointsValue"] == 8.0
    assert summary["expirationSchedule"][0] == {
        "amount": 300,
        "expiryDate": day(10),
        "pointBatchId": soon,
    }
    history = call("GET", f"/api/crm/customers/{customer_id}/points/transactions").body
    assert [(e["points"], e["balanceAfter"]) for e in history["transactions"]] == [
        (300, 800),
        (500, 500),
    ]


def test_the_summary_names_the_expiring_window_it_counts(lambda_env, customer_id):
    """Every role that reads the summary learns the window (GET /points/config is
    VIEW_ANALYTICS only): the points widget says it."""
    assert award(customer_id, 300, expiry=day(45)).status == 201
    summary = call("GET", f"/api/crm/customers/{customer_id}/points", role="SUPPORT_AGENT").body
    assert (summary["expiringWindowDays"], summary["expiringBalance"]) == (30, 0)
    changed = call("PUT", "/api/crm/points/config", role="ADMIN", body={"expiringWindowDays": 60})
    assert changed.status == 200, changed.body
    runtime.cache_clear()  # the functions read the configuration again (cached a minute, §10)
    summary = call("GET", f"/api/crm/customers/{customer_id}/points", role="SUPPORT_AGENT").body
    assert (summary["expiringWindowDays"], summary["expiringBalance"]) == (60, 300)


def test_redeem_takes_the_soonest_expiring_points_first(lambda_env, customer_id):
    first = award(customer_id, 400, expiry=day(200)).body["transactions"][0]
    second = award(customer_id, 100, expiry=day(20)).body["transactions"][0]
    late, soon = first["pointBatchId"], second["pointBatchId"]
    answer = call(
        "POST",
        "/api/crm/points/redeem",
        body={"customerId": customer_id, "amount": 250, "reason": "Manual redemption"},
    )
    assert answer.status == 201
    assert answer.body["transactions"][0]["allocations"] == [
        # Each names the month its points were issued in (their cohort).
        {"pointBatchId": soon, "points": 100, "issueMonths": second["issueMonths"]},
        {
            "pointBatchId": late,
            "points": 150,
            "issueMonths": dict.fromkeys(first["issueMonths"], 150),
        },
    ]
    over = call(
        "POST",
        "/api/crm/points/redeem",
        body={"customerId": customer_id, "amount": 251, "reason": "Too much"},
    )
    assert (over.status, over.code) == (409, "INSUFFICIENT_POINTS")


def test_a_deduction_approved_by_another_manager(lambda_env, customer_id):
    award(customer_id, 10_000)
    body = {
        "customerId": customer_id,
        "amount": 3_000,
        "reason": "Duplicate booking",
        "requireApproval": True,
    }
    asked = call("POST", "/api/crm/points/deduct", user="alice", body=body)
    assert (asked.status, asked.body["status"]) == (202, "PENDING")
    approval_id = asked.body["approvalId"]
    pending = call("GET", "/api/crm/points/approvals", user="bob").body["approvals"]
    assert approval_id in [a["approvalId"] for a in pending]
    path = f"/api/crm/points/approvals/{approval_id}/approve"
    own = call("POST", path, user="alice")
    assert (own.status, own.code) == (403, "FORBIDDEN")
    assert call("GET", f"/api/crm/customers/{customer_id}/points").body["currentBalance"] == 10_000
    approved = call("POST", path, user="bob", body={"reason": "Checked the bookings"})
    assert approved.status == 201
    entry = approved.body["transactions"][0]
    assert (entry["type"], entry["points"], entry["approvalId"]) == ("DEDUCT", -3_000, approval_id)
    assert entry["actor"] == {"userId": "bob", "role": "MANAGER"}
    again = call("POST", path, user="carol")
    assert (again.status, again.code) == (409, "CONFLICT")
    decided = call("GET", "/api/crm/points/approvals", query={"status": "APPROVED"}).body
    record = next(a for a in decided["approvals"] if a["approvalId"] == approval_id)
    assert record["decidedBy"]["userId"] == "bob"
    assert record["transactionId"] == entry["transactionId"]


def test_a_manager_may_not_approve_above_the_manager_limit(lambda_env, customer_id):
    award(customer_id, 10_000)
    asked = call(
        "POST",
        "/api/crm/points/deduct",
        user="alice",
        body={
            "customerId": customer_id,
            "amount": 6_000,
            "reason": "Large correction",
            "requireApproval": True,
        },
    )
    path = f"/api/crm/points/approvals/{asked.body['approvalId']}/approve"
    assert call("POST", path, user="bob").code == "LIMIT_EXCEEDED"
    assert call("POST", path, role="ADMIN", user="root").status == 201


def test_a_rejected_deduction_deducts_nothing(lambda_env, customer_id):
    award(customer_id, 1_000)
    asked = call(
        "POST",
        "/api/crm/points/deduct",
        user="alice",
        body={"customerId": customer_id, "amount": 100, "reason": "Maybe", "requireApproval": True},
    )
    approval_id = asked.body["approvalId"]
    rejected = call(
        "POST",
        f"/api/crm/points/approvals/{approval_id}/reject",
        user="bob",
        body={"reason": "No evidence"},
    )
    assert (rejected.status, rejected.body["status"]) == (200, "REJECTED")
    assert rejected.body["decisionReason"] == "No evidence"
    approve = call("POST", f"/api/crm/points/approvals/{approval_id}/approve", user="carol")
    assert approve.code == "CONFLICT"
    assert call("GET", f"/api/crm/customers/{customer_id}/points").body["currentBalance"] == 1_000


def test_extend_then_recover(lambda_env, service: PointsService, customer_id):
    lot = award(customer_id, 700, expiry=day(5)).body["transactions"][0]["pointBatchId"]
    extended = call(
        "POST",
        "/api/crm/points/extend-expiry",
        body={"pointBatchId": lot, "newExpiryDate": day(60), "reason": "Customer was travelling"},
    )
    assert extended.status == 201
    assert extended.body["transactions"][0]["type"] == "EXPIRY_EXTENDED"
    summary = call("GET", f"/api/crm/customers/{customer_id}/points").body
    assert summary["expirationSchedule"] == [
        {"amount": 700, "expiryDate": day(60), "pointBatchId": lot}
    ]
    assert summary["expiringBalance"] == 0
    expired = service.expire(
        customer_id=customer_id, now=TODAY + timedelta(days=61), request_id="run"
    )
    assert expired is not None
    expire_id = expired.transactions[0].transaction_id
    body = {"transactionId": expire_id, "newExpiryDate": day(90), "reason": "Goodwill"}
    recovered = call("POST", "/api/crm/points/recover-expired", role="ADMIN", body=body)
    assert recovered.status == 201
    assert recovered.body["currentBalance"] == 700
    twice = call("POST", "/api/crm/points/recover-expired", role="ADMIN", body=body)
    assert (twice.status, twice.code) == (409, "CONFLICT")


def test_a_replay_answers_the_first_response_and_a_reused_key_is_refused(lambda_env, customer_id):
    body = {"customerId": customer_id, "amount": 50, "reason": "Once only"}
    first = call("POST", "/api/crm/points/award", body=body, key="award-once")
    again = call("POST", "/api/crm/points/award", body=body, key="award-once")
    assert (first.status, first.body) == (again.status, again.body)
    assert (first.headers["Idempotent-Replayed"], again.headers["Idempotent-Replayed"]) == (
        "false",
        "true",
    )
    other = call("POST", "/api/crm/points/award", body={**body, "amount": 51}, key="award-once")
    assert (other.status, other.code) == (422, "IDEMPOTENCY_KEY_REUSED")
    missing = call("POST", "/api/crm/points/award", body=body, key="")
    assert (missing.status, missing.code) == (422, "VALIDATION_ERROR")
    summary = call("GET", f"/api/crm/customers/{customer_id}/points").body
    assert summary["currentBalance"] == 50


def test_the_writes_that_are_not_postings_say_when_they_replay(lambda_env, customer_id):
    """A deduction waiting for approval, its rejection and the settings changes answer a
    replay as the first time, saying so, as the ledger's writes do."""
    call(
        "POST",
        "/api/crm/points/award",
        body={"customerId": customer_id, "amount": 500, "reason": "Points"},
    )
    deduction = {
        "customerId": customer_id,
        "amount": 40,
        "reason": "Check",
        "requireApproval": True,
    }
    writes = [
        ("POST", "/api/crm/points/deduct", "MANAGER", "alice", deduction),
        ("PUT", "/api/crm/points/config", "ADMIN", "root", {"largeRedemptionPoints": 9_999}),
        (
            "PUT",
            "/api/crm/points/finance/settings",
            "FINANCE",
            "fiona",
            {"breakageRateOverridePct": 10},
        ),
    ]
    for method, path, role, user, body in writes:
        key = f"replay-{uuid.uuid4().hex}"
        first = call(method, path, role=role, user=user, body=body, key=key)
        again = call(method, path, role=role, user=user, body=body, key=key)
        assert first.status in (200, 202), (path, first.body)
        assert (again.status, again.body) == (first.status, first.body), path
        seen = (first.headers["Idempotent-Replayed"], again.headers["Idempotent-Replayed"])
        assert seen == ("false", "true"), path
        if path.endswith("/deduct"):
            approval_id = first.body["approvalId"]
    reject = f"/api/crm/points/approvals/{approval_id}/reject"
    first = call(
        "POST", reject, role="ADMIN", user="root", body={"reason": "Not justified"}, key="no"
    )
    again = call(
        "POST", reject, role="ADMIN", user="root", body={"reason": "Not justified"}, key="no"
    )
    assert (first.status, again.body) == (200, first.body)
    seen = (first.headers["Idempotent-Replayed"], again.headers["Idempotent-Replayed"])
    assert seen == ("false", "true")


def test_an_idempotency_key_is_the_callers_own(lambda_env, customer_id):
    """Nobody can spend another's key first: the same key from two callers is two requests,
    and each caller's replay answers its own first response."""
    key = f"award-1-{customer_id}"
    mallory = award(customer_id, 1, user="mallory", key=key)
    alice = award(customer_id, 50, user="alice", key=key)
    assert (mallory.status, alice.status) == (201, 201)
    again = award(customer_id, 50, user="alice", key=key)
    assert (again.body, again.headers["Idempotent-Replayed"]) == (alice.body, "true")
    summary = call("GET", f"/api/crm/customers/{customer_id}/points").body
    assert summary["currentBalance"] == 51


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        # A key twice: which amount was meant is not ours to guess.
        '{"customerId": "c-1", "amount": 1, "amount": 999999, "reason": "Bonus"}',
        # The body must be one object, not a list of them.
        '[{"customerId": "c-1", "amount": 10, "reason": "Bonus"}]',
        # Nested far past what the parser can follow.
        '{"customerId": "c-1", "amount": 10, "x": ' + "[" * 10_000 + "]" * 10_000 + "}",
        {"customerId": "c-1", "amount": 10, "reason": "Bonus", "surprise": True},
        {"customerId": "c-1", "amount": 0, "reason": "Bonus"},
        {"customerId": "c-1", "amount": 1_000_001, "reason": "Bonus"},
        {"customerId": "c-1", "amount": 10.5, "reason": "Bonus"},
        {"customerId": "c-1", "amount": "10", "reason": "Bonus"},
        {"customerId": "c-1", "amount": 10, "reason": "ab"},
        {"customerId": "c-1", "amount": 10, "reason": "x" * 501},
        {"customerId": "bad id", "amount": 10, "reason": "Bonus"},
        {"customerId": "c-1", "amount": 10, "reason": "Bonus", "expiryDate": "2020-01-01"},
        {"customerId": "c-1", "amount": 10, "reason": "Bonus", "expiryDate": "31/12/2030"},
        {"customerId": "c-1", "amount": 10, "reason": "Bonus", "expiryDate": "2030-01-01T00:00:00"},
        {"amount": 10, "reason": "Bonus"},
        # Booleans are JSON's true and false only.
        {"customerId": "c-1", "amount": 10, "reason": "Bonus", "notifyCustomer": "yes"},
        {"customerId": "c-1", "amount": 10, "reason": "Bonus", "notifyCustomer": "true"},
        {"customerId": "c-1", "amount": 10, "reason": "Bonus", "notifyCustomer": 1},
        # A reason is shown in terminals and screens: nothing in it may act there.
        {"customerId": "c-1", "amount": 10, "reason": "Bonus \u001b[2J"},
        {"customerId": "c-1", "amount": 10, "reason": "Bonus \u202efdp.exe"},
        {"customerId": "c-1", "amount": 10, "reason": "Bonus\nline two"},
        {"customerId": "c-1", "amount": 10, "reason": "Bonus\u2028line two"},
        {"customerId": "c-1", "amount": 10, "reason": "Bo\u200bnus"},
        # Dates outside the years the product works in.
        {"customerId": "c-1", "amount": 10, "reason": "Bonus", "expiryDate": "9999-12-31"},
        {
            "customerId": "c-1",
            "amount": 10,
            "reason": "Bonus",
            "expiryDate": "9999-12-31T23:59:59Z",
        },
    ],
)
def test_bad_input_is_a_422_in_the_error_format_and_writes_nothing(lambda_env, body):
    answer = call("POST", "/api/crm/points/award", body=body)
    assert (answer.status, answer.code) == (422, "VALIDATION_ERROR"), answer.body
    assert set(answer.body) == {"error", "requestId"}
    assert "TransactWriteItems" not in lambda_env.calls


@pytest.mark.parametrize("content_type", ["application/octet-stream", "text/plain", None])
def test_a_body_not_sent_as_json_is_a_422(lambda_env, content_type):
    from tests.api import LambdaContext, handler

    event = json.loads((ROOT / "events" / "post_award_points.json").read_text())
    event["headers"].pop("content-type", None)
    if content_type:
        event["headers"]["content-type"] = content_type
    response = handler("award_points").lambda_handler(event, LambdaContext())
    assert response["statusCode"] == 422
    assert json.loads(response["body"])["error"]["code"] == "VALIDATION_ERROR"
    assert "TransactWriteItems" not in lambda_env.calls


def test_unknown_route_is_404_in_the_error_format(lambda_env):
    from tests.api import LambdaContext, handler

    event = {
        "version": "2.0",
        "routeKey": "GET /nowhere",
        "rawPath": "/nowhere",
        "rawQueryString": "",
        "headers": {},
        "requestContext": {
            "http": {"method": "GET", "path": "/nowhere"},
            "requestId": "r-1",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    response = handler("customer_points").lambda_handler(event, LambdaContext())
    assert response["statusCode"] == 404
    assert '"code":"NOT_FOUND"' in response["body"]


@pytest.mark.parametrize(
    "change",
    [
        {"senderEmail": "not-an-email"},
        {"senderEmail": "Points <points@example.com>"},
        {"senderEmail": "points@localhost"},
        {"opsTopicArn": "junk"},
        {"opsTopicArn": "arn:aws:sns:af-south-1:999999999999:crm-points-ops-x"},  # account
        {"opsTopicArn": "arn:aws:sns:eu-west-1:123456789012:crm-points-ops-x"},  # region
        {"opsTopicArn": "arn:aws:sqs:af-south-1:123456789012:ops"},
        # A topic the stream function's policy does not name: publishing would only fail.
        {"opsTopicArn": "arn:aws:sns:af-south-1:123456789012:ops"},
        {"senderEmail": "x" * 250 + "@example.com"},
        {"bookingLink": "https://example.com/" + "x" * 2048},
        {"bookingLink": "javascript:alert(1)"},
        {"bookingLink": "http://example.com/book"},
        {"bookingLink": "https:///book"},
        {"bookingLink": "https://example.com/\u202ebook"},
    ],
)
def test_a_setting_that_would_break_delivery_is_refused(lambda_env, monkeypatch, change):
    monkeypatch.setenv("AWS_REGION", "af-south-1")  # the function's region, as Lambda sets it
    runtime.cache_clear()
    before = call("GET", "/api/crm/points/config").body
    refused = call("PUT", "/api/crm/points/config", role="ADMIN", body=change)
    assert (refused.status, refused.code) == (422, "VALIDATION_ERROR"), refused.body
    assert call("GET", "/api/crm/points/config").body == before


def test_settings_that_deliver_are_taken(lambda_env, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "af-south-1")
    runtime.cache_clear()
    change = {
        "senderEmail": "points@example.com",
        "opsTopicArn": "arn:aws:sns:af-south-1:123456789012:crm-points-ops-alerts",
        "bookingLink": "https://example.com/book",
    }
    taken = call("PUT", "/api/crm/points/config", role="ADMIN", body=change)
    assert taken.status == 200, taken.body
    cleared = call("PUT", "/api/crm/points/config", role="ADMIN", body={"opsTopicArn": ""})
    assert (cleared.status, cleared.body["opsTopicArn"]) == (200, "")


def test_config_change_keeps_the_other_keys_and_is_used(lambda_env, customer_id):
    changed = call(
        "PUT", "/api/crm/points/config", role="ADMIN", body={"supportAgentAwardLimit": 2_000}
    )
    assert changed.status == 200
    assert (changed.body["supportAgentAwardLimit"], changed.body["managerDeductLimit"]) == (
        2_000,
        5_000,
    )
    invalid = call("PUT", "/api/crm/points/config", role="ADMIN", body={"validityDays": 0})
    assert (invalid.status, invalid.code) == (422, "VALIDATION_ERROR")
    assert call("GET", "/api/crm/points/config").body["supportAgentAwardLimit"] == 2_000


def test_customer_found_by_email(lambda_env, service: PointsService, customer_id):
    from crm_points.records import CustomerProfile

    service.admin.put_profile(
        CustomerProfile(
            customer_id=customer_id,
            email=f"{customer_id}@Example.com",
            first_name="Thandi",
            updated_at=TODAY,
        )
    )
    found = call("GET", "/api/crm/customers", query={"email": f"{customer_id}@example.COM"})
    assert [c["customerId"] for c in found.body["customers"]] == [customer_id]


def test_cross_customer_query_by_type_and_date(lambda_env, service: PointsService):
    marker = f"q{TODAY.microsecond}"
    for n in range(3):
        service.award(
            request(now=TODAY, actor=Actor(user_id="m", role="MANAGER")),
            customer_id=f"{marker}-{n}",
            amount=10 + n,
            reason="Query test",
        )
    query = {"type": "AWARD", "dateFrom": TODAY.date().isoformat(), "limit": "100"}
    found = call("GET", "/api/crm/points/transactions", query=query).body
    mine = [e for e in found["transactions"] if e["customerId"].startswith(marker)]
    assert sorted(e["points"] for e in mine) == [10, 11, 12]
    assert all(e["type"] == "AWARD" for e in found["transactions"])
    first = call("GET", "/api/crm/points/transactions", query={**query, "limit": "1"}).body
    second = call(
        "GET",
        "/api/crm/points/transactions",
        query={**query, "limit": "1", "cursor": first["nextCursor"]},
    ).body
    by_offset = call(
        "GET", "/api/crm/points/transactions", query={**query, "limit": "1", "offset": "1"}
    ).body
    assert second["transactions"] == by_offset["transactions"]
    assert second["transactions"] != first["transactions"]


def test_a_query_from_a_day_still_to_come_answers_an_empty_page(lambda_env, customer_id):
    assert award(customer_id, 5).status == 201
    coming = (business_day(TODAY) + timedelta(days=10)).isoformat()
    for extra in ({}, {"customerId": customer_id}, {"type": "AWARD"}):
        found = call("GET", "/api/crm/points/transactions", query={"dateFrom": coming, **extra})
        assert found.status == 200
        assert (found.body["transactions"], found.body["nextCursor"]) == ([], None)
    # A range that ends before it starts is still the caller's mistake.
    backwards = {"dateFrom": coming, "dateTo": business_day(TODAY).isoformat()}
    assert call("GET", "/api/crm/points/transactions", query=backwards).status == 422


def test_a_cursor_is_taken_only_with_the_query_that_issued_it(lambda_env, customer_id):
    other = f"{customer_id}-b"
    for who in (customer_id, other):
        for amount in (5, 6):
            assert award(who, amount).status == 201
    search = "/api/crm/points/transactions"
    mine = {"customerId": customer_id, "limit": "1"}
    cursor = call("GET", search, query=mine).body["nextCursor"]
    assert cursor
    assert call("GET", search, query={**mine, "cursor": cursor}).status == 200
    assert call("GET", search, query={**mine, "limit": "5", "cursor": cursor}).status == 200
    for changed in (
        {"customerId": other},
        {"type": "AWARD"},
        {"dateFrom": business_day(TODAY).isoformat()},
        {"customerId": ""},
    ):
        query = {key: value for key, value in {**mine, **changed}.items() if value}
        refused = call("GET", search, query={**query, "cursor": cursor})
        assert (refused.status, refused.code) == (422, "VALIDATION_ERROR"), (changed, refused)
        assert refused.body["error"]["details"] == {"field": "cursor"}
    history = f"/api/crm/customers/{customer_id}/points/transactions"
    page = call("GET", history, query={"limit": "1"}).body["nextCursor"]
    elsewhere = f"/api/crm/customers/{other}/points/transactions"
    assert call("GET", elsewhere, query={"cursor": page}).status == 422
    assert call("GET", history, query={"cursor": page}).status == 200
    everyone = call("GET", search, query={"limit": "1"}).body["nextCursor"]
    assert call("GET", search, query={"type": "DEDUCT", "cursor": everyone}).status == 422


def test_a_cursor_made_up_by_hand_is_a_422_never_a_fault(lambda_env, customer_id):
    """A cursor's tag is a plain hash of its query, so anyone can make one: the key inside
    is still held to the query's partition and range."""
    assert award(customer_id, 5).status == 201
    other = customer_pk(f"{customer_id}-other")
    search = "/api/crm/points/transactions"
    forged = encode_key(
        to_item({"PK": other, "SK": "ENTRY#0000000001"}), f"transactions|{customer_id}|||"
    )
    assert forged is not None
    refused = call("GET", search, query={"customerId": customer_id, "cursor": forged})
    assert (refused.status, refused.body["error"]["message"]) == (422, "cursor is not valid")
    # Every customer's, from a place outside the dates asked for: nothing, or only the range.
    day = business_day(TODAY).isoformat()
    for place in ("1999-01-01T00:00:00.000Z", "2199-12-31T00:00:00.000Z#x"):
        cursor = encode_key(to_item({"txTime": place}), f"transactions|||{day}|{day}")
        assert cursor is not None
        found = call(
            "GET", search, query={"dateFrom": day, "dateTo": day, "limit": "5", "cursor": cursor}
        )
        assert found.status == 200, found.body
        assert all(e["createdAt"].startswith(day[:4]) for e in found.body["transactions"])


def test_an_approvals_cursor_is_taken_only_for_its_status(lambda_env, customer_id):
    assert award(customer_id, 100).status == 201
    for _ in range(2):
        asked = call(
            "POST",
            "/api/crm/points/deduct",
            body={
                "customerId": customer_id,
                "amount": 1,
                "reason": "Check",
                "requireApproval": True,
            },
        )
        assert asked.status == 202, asked.body
    listing = "/api/crm/points/approvals"
    cursor = call("GET", listing, query={"limit": "1"}).body["nextCursor"]
    assert cursor
    refused = call("GET", listing, query={"status": "APPROVED", "cursor": cursor})
    assert (refused.status, refused.code) == (422, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "query",
    [
        {"dateFrom": "1999-12-31"},
        {"dateTo": "2200-01-01"},
        {"dateFrom": "0001-01-01T00:00:00+02:00"},
        {"dateTo": "9999-12-31T23:59:59Z"},
    ],
)
def test_a_query_date_outside_the_years_the_product_works_in_is_a_422(lambda_env, query):
    found = call("GET", "/api/crm/points/transactions", query=query)
    assert (found.status, found.code) == (422, "VALIDATION_ERROR"), found.body


@pytest.mark.parametrize(
    ("method", "path_of", "body_of", "expected"),
    [
        ("GET", lambda c: f"/api/crm/customers/{c}/points", None, {"Query": 1}),
        ("GET", lambda c: f"/api/crm/customers/{c}/points/transactions", None, {"Query": 1}),
        # Every customer's history: one Query per shard of the index, in parallel.
        ("GET", lambda c: "/api/crm/points/transactions", None, {"Query": INDEX_SHARDS}),
        ("GET", lambda c: "/api/crm/points/approvals", None, {"Query": 1}),
        ("GET", lambda c: "/api/crm/points/config", None, {"GetItem": 1}),
        ("GET", lambda c: "/api/crm/customers?email=x@example.com", None, {"Query": 1}),
        (
            "POST",
            lambda c: "/api/crm/points/award",
            lambda c: {"customerId": c, "amount": 5, "reason": "Counted"},
            {"Query": 1, "TransactWriteItems": 1},
        ),
        (
            "POST",
            lambda c: "/api/crm/points/redeem",
            lambda c: {"customerId": c, "amount": 5, "reason": "Counted"},
            {"Query": 1, "TransactWriteItems": 1},
        ),
        (
            "POST",
            lambda c: "/api/crm/points/deduct",
            lambda c: {"customerId": c, "amount": 5, "reason": "Counted"},
            {"Query": 1, "TransactWriteItems": 1},
        ),
    ],
)
def test_requests_per_route(lambda_env, customer_id, method, path_of, body_of, expected):
    award(customer_id, 100)
    lambda_env.reset()
    path, _, query = path_of(customer_id).partition("?")
    answer = call(
        method,
        path,
        body=body_of(customer_id) if body_of else None,
        query=dict([query.split("=")]) if query else None,
    )
    assert answer.status in {200, 201}
    assert lambda_env.calls == expected


def test_every_customers_history_merges_the_shards_in_order_page_by_page(
    lambda_env, service: PointsService
):
    """Entries of customers in many shards come back newest first, each page full while
    entries match, and the pages together are every entry once."""
    marker = f"m{uuid.uuid4().hex[:8]}"
    customers = [f"{marker}-{number}" for number in range(40)]
    # A minute of a past year no other test writes in: the pages hold these entries alone.
    start = datetime(2001, 1, 1, tzinfo=UTC) + timedelta(minutes=uuid.uuid4().int % 500_000)
    assert len({index_shard(customer) for customer in customers}) > INDEX_SHARDS // 2
    for number, customer in enumerate(customers):
        service.award(
            request(
                now=start + timedelta(seconds=number), actor=Actor(user_id="m", role="MANAGER")
            ),
            customer_id=customer,
            amount=100 + number,
            reason="Spread over the shards",
        )
    query = {
        "dateFrom": start.isoformat(),
        "dateTo": (start + timedelta(seconds=40)).isoformat(),
        "limit": "7",
    }
    pages, cursor = [], None
    while True:
        answer = call(
            "GET",
            "/api/crm/points/transactions",
            query={**query, **({"cursor": cursor} if cursor else {})},
        )
        assert answer.status == 200, answer.body
        assert {e["customerId"] for e in answer.body["transactions"]} <= set(customers)
        pages.append(answer.body["transactions"])
        cursor = answer.body["nextCursor"]
        if cursor is None:
            break
    assert all(len(page) == 7 for page in pages[:-1])
    seen = [entry["points"] for page in pages for entry in page]
    assert seen == sorted((100 + number for number in range(40)), reverse=True)
