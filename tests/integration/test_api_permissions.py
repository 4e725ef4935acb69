"""SPEC §4 through the real handlers: every route, every role, each limit boundary."""

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.api import call
from tests.integration.conftest import World

# Every route runs here, the bulk award's too: it needs its queue.
pytestmark = pytest.mark.usefixtures("bulk_award_queue", "export_destinations")

ROLES = ["SUPPORT_AGENT", "MANAGER", "ADMIN", "BOOKING_SYSTEM", "FINANCE"]


Case = Callable[[World], tuple[str, str, dict[str, Any] | None, dict[str, str] | None]]
FUTURE = "2031-01-31"

# route: (request, roles allowed, "LIMIT" when a role that may do it below a limit is
# refused with LIMIT_EXCEEDED; every other refusal is FORBIDDEN)
CASES: dict[str, tuple[Case, set[str], str]] = {
    "summary": (
        lambda w: ("GET", f"/api/crm/customers/{w.customer_id}/points", None, None),
        set(ROLES),
        "",
    ),
    "history": (
        lambda w: ("GET", f"/api/crm/customers/{w.customer_id}/points/transactions", None, None),
        set(ROLES),
        "",
    ),
    "statement": (
        lambda w: (
            "GET",
            f"/api/crm/customers/{w.customer_id}/points/statement",
            None,
            {"from": "2026-01-01", "to": "2026-12-31"},
        ),
        set(ROLES),
        "",
    ),
    "query": (
        lambda w: ("GET", "/api/crm/points/transactions", None, {"customerId": w.customer_id}),
        set(ROLES),
        "",
    ),
    "explain a transaction": (
        lambda w: ("GET", f"/api/crm/points/transactions/{w.expire_id}", None, None),
        set(ROLES),
        "",
    ),
    "a lot's life": (
        lambda w: ("GET", f"/api/crm/points/lots/{w.lot_id}", None, None),
        set(ROLES),
        "",
    ),
    "customers by e-mail": (
        lambda w: ("GET", "/api/crm/customers", None, {"email": "nobody@example.com"}),
        set(ROLES),
        "",
    ),
    "award 999": (
        lambda w: (
            "POST",
            "/api/crm/points/award",
            {"customerId": w.customer_id, "amount": 999, "reason": "Bonus"},
            None,
        ),
        {"SUPPORT_AGENT", "MANAGER", "ADMIN"},
        "FORBIDDEN",
    ),
    "award 1,000": (
        lambda w: (
            "POST",
            "/api/crm/points/award",
            {"customerId": w.customer_id, "amount": 1_000, "reason": "Bonus"},
            None,
        ),
        {"MANAGER", "ADMIN"},
        "LIMIT",
    ),
    "deduct 4,999": (
        lambda w: (
            "POST",
            "/api/crm/points/deduct",
            {"customerId": w.customer_id, "amount": 4_999, "reason": "Correction"},
            None,
        ),
        {"MANAGER", "ADMIN"},
        "FORBIDDEN",
    ),
    "deduct 5,000": (
        lambda w: (
            "POST",
            "/api/crm/points/deduct",
            {"customerId": w.customer_id, "amount": 5_000, "reason": "Correction"},
            None,
        ),
        {"ADMIN"},
        "LIMIT",
    ),
    "deduct 5,000 for approval": (
        lambda w: (
            "POST",
            "/api/crm/points/deduct",
            {
                "customerId": w.customer_id,
                "amount": 5_000,
                "reason": "Correction",
                "requireApproval": True,
            },
            None,
        ),
        {"MANAGER", "ADMIN"},
        "FORBIDDEN",
    ),
    "redeem for a booking": (
        lambda w: (
            "POST",
            "/api/crm/points/redeem",
            {
                "customerId": w.customer_id,
                "amount": 10,
                "reason": "Checkout",
                "bookingId": f"bk-{uuid.uuid4().hex[:8]}",
            },
            None,
        ),
        {"MANAGER", "ADMIN", "BOOKING_SYSTEM"},
        "FORBIDDEN",
    ),
    "redeem without a booking": (
        lambda w: (
            "POST",
            "/api/crm/points/redeem",
            {"customerId": w.customer_id, "amount": 10, "reason": "By hand"},
            None,
        ),
        {"MANAGER", "ADMIN"},
        "FORBIDDEN",
    ),
    "extend expiry": (
        lambda w: (
            "POST",
            "/api/crm/points/extend-expiry",
            {"pointBatchId": w.lot_id, "newExpiryDate": FUTURE, "reason": "Loyal customer"},
            None,
        ),
        {"MANAGER", "ADMIN"},
        "FORBIDDEN",
    ),
    "recover expired": (
        lambda w: (
            "POST",
            "/api/crm/points/recover-expired",
            {"transactionId": w.expire_id, "newExpiryDate": FUTURE, "reason": "Complaint"},
            None,
        ),
        {"ADMIN"},
        "FORBIDDEN",
    ),
    "list approvals": (
        lambda w: ("GET", "/api/crm/points/approvals", None, None),
        {"MANAGER", "ADMIN"},
        "FORBIDDEN",
    ),
    "approve": (
        lambda w: ("POST", f"/api/crm/points/approvals/{w.approval_id}/approve", None, None),
        {"MANAGER", "ADMIN"},
        "FORBIDDEN",
    ),
    "reject": (
        lambda w: (
            "POST",
            f"/api/crm/points/approvals/{w.approval_id}/reject",
            {"reason": "Not justified"},
            None,
        ),
        {"MANAGER", "ADMIN"},
        "FORBIDDEN",
    ),
    "read config": (
        lambda w: ("GET", "/api/crm/points/config", None, None),
        {"MANAGER", "ADMIN", "FINANCE"},
        "FORBIDDEN",
    ),
    "change config": (
        lambda w: (
            "PUT",
            "/api/crm/points/config",
            {"bookingLink": "https://example.com/book-now"},
            None,
        ),
        {"ADMIN"},
        "FORBIDDEN",
    ),
    # -- alerts (SPEC §7)
    "list alerts": (
        lambda w: ("GET", "/api/crm/alerts", None, {"type": "LARGE_REDEMPTION"}),
        {"MANAGER", "ADMIN"},
        "FORBIDDEN",
    ),
    "customer alerts": (
        lambda w: ("GET", f"/api/crm/customers/{w.customer_id}/alerts", None, None),
        set(ROLES),
        "",
    ),
    # -- personal data (POPIA)
    "personal data": (
        lambda w: ("GET", f"/api/crm/customers/{w.customer_id}/personal-data", None, None),
        {"ADMIN"},
        "FORBIDDEN",
    ),
    "erase personal data": (
        lambda w: (
            "POST",
            f"/api/crm/customers/{w.customer_id}/erase",
            {"reason": "The customer asked"},
            None,
        ),
        {"ADMIN"},
        "FORBIDDEN",
    ),
    "acknowledge alert": (
        lambda w: (
            "POST",
            f"/api/crm/alerts/{w.alert_id}/acknowledge",
            {"note": "Looking into it"},
            None,
        ),
        {"MANAGER", "ADMIN"},
        "FORBIDDEN",
    ),
    "resolve alert": (
        lambda w: ("POST", f"/api/crm/alerts/{w.alert_id}/resolve", None, None),
        {"MANAGER", "ADMIN"},
        "FORBIDDEN",
    ),
    # -- bulk awards (SPEC §3; the queue: bulk_award_queue below)
    "bulk award": (
        lambda w: (
            "POST",
            "/api/crm/points/bulk-award",
            {"rows": [{"customerId": w.customer_id, "amount": 5, "reason": "Bulk bonus"}]},
            None,
        ),
        {"ADMIN"},
        "FORBIDDEN",
    ),
    # A page after the first needs no job to exist: an empty page for the allowed role.
    "bulk job": (
        lambda w: (
            "GET",
            f"/api/crm/points/bulk-jobs/{w.customer_id}",
            None,
            {"cursor": "eyJhZnRlciI6MTB9"},
        ),
        {"ADMIN"},
        "FORBIDDEN",
    ),
    # -- analytics (SPEC §9)
    "analytics": (
        lambda w: ("GET", "/api/crm/points/analytics", None, {"month": "2026-01"}),
        {"MANAGER", "ADMIN", "FINANCE"},
        "FORBIDDEN",
    ),
    # -- finance (docs/finance.md)
    "finance roll-forward": (
        lambda w: (
            "GET",
            "/api/crm/points/finance/roll-forward",
            None,
            {"from": "2026-01", "to": "2026-02"},
        ),
        {"MANAGER", "ADMIN", "FINANCE"},
        "FORBIDDEN",
    ),
    "finance cohorts": (
        lambda w: ("GET", "/api/crm/points/finance/cohorts", None, {"asOf": "2026-01"}),
        {"MANAGER", "ADMIN", "FINANCE"},
        "FORBIDDEN",
    ),
    "balances export": (
        lambda w: ("POST", "/api/crm/points/finance/balances-export", None, {"asOf": "2026-01"}),
        {"MANAGER", "ADMIN", "FINANCE"},
        "FORBIDDEN",
    ),
    "balances export job": (
        lambda w: ("GET", "/api/crm/points/finance/balances-export/01JNOSUCHJOB", None, None),
        {"MANAGER", "ADMIN", "FINANCE"},
        "FORBIDDEN",
    ),
    "finance periods": (
        lambda w: ("GET", "/api/crm/points/finance/periods", None, None),
        {"MANAGER", "ADMIN", "FINANCE"},
        "FORBIDDEN",
    ),
    "close a month": (
        lambda w: ("POST", "/api/crm/points/finance/periods/2026-01/close", None, None),
        {"ADMIN", "FINANCE"},
        "FORBIDDEN",
    ),
    "finance settings": (
        lambda w: (
            "PUT",
            "/api/crm/points/finance/settings",
            {"standalonePointValueCents": 7.834, "breakageRateOverridePct": 15},
            None,
        ),
        {"ADMIN", "FINANCE"},
        "FORBIDDEN",
    ),
}
# Allowed, and then answered by the route's own rule: this table's aggregates are not kept
# (no stream), so there is no month to close (tests/integration/test_finance.py closes).
# The export's job is one that does not exist.
ANSWERED_BY_THE_RULE = {"close a month": "CONFLICT", "balances export job": "NOT_FOUND"}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES)
def test_route_is_allowed_exactly_as_the_spec_says(lambda_env, world, case, role):
    make, allowed, refusal = CASES[case]
    method, path, body, query = make(world)
    answer = call(method, path, role=role, user=f"{role.lower()}-1", body=body, query=query)
    if role in allowed:
        ruled = ANSWERED_BY_THE_RULE.get(case)
        assert answer.status in {200, 201, 202} or answer.code == ruled, answer.body
    else:
        assert answer.status == 403, answer.body
        below_a_limit = {"award 1,000": "SUPPORT_AGENT", "deduct 5,000": "MANAGER"}
        limited = refusal == "LIMIT" and below_a_limit[case] == role
        assert answer.code == ("LIMIT_EXCEEDED" if limited else "FORBIDDEN"), answer.body


def test_every_route_of_the_template_is_covered():
    from tests.api import routes

    covered = set()
    for make, _, _ in CASES.values():
        method, path, _, _ = make(World("c", "l", "e", "a", "al"))
        covered |= {(r.method, r.path) for r in routes() if r.match(method, path) is not None}
    assert covered == {(r.method, r.path) for r in routes()}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        (
            "POST",
            "/api/crm/points/award",
            {"customerId": "c", "amount": 5, "reason": "Bonus", "adminUserId": "someone-else"},
        ),
        (
            "POST",
            "/api/crm/points/deduct",
            {"customerId": "c", "amount": 5, "reason": "Fix", "adminUserId": "someone-else"},
        ),
    ],
)
def test_an_admin_user_id_that_is_not_the_caller_is_refused(lambda_env, method, path, body):
    answer = call(method, path, role="ADMIN", user="alice", body=body)
    assert (answer.status, answer.code) == (403, "FORBIDDEN")


def test_allow_negative_is_for_admins_only(lambda_env, world):
    body = {"customerId": world.customer_id, "amount": 10, "reason": "Fraud", "allowNegative": True}
    assert call("POST", "/api/crm/points/deduct", role="MANAGER", body=body).code == "FORBIDDEN"
    assert call("POST", "/api/crm/points/deduct", role="ADMIN", body=body).status == 201


# -- bulk awards: the POST function's queue -------------------------------------------------
