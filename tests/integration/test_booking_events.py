"""The booking system's events through the real handlers, with events/*.json's shape."""

import json
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from crm_points.errors import Conflict, IdempotencyKeyReused, InsufficientPoints
from crm_points.ledger_service import PointsService
from crm_points.records import Actor
from crm_points.runtime import runtime
from tests.api import ROOT, LambdaContext, call, handler
from tests.conftest import request


def event(name: str, customer_id: str, booking_id: str, **detail: Any) -> dict[str, Any]:
    """A sample event for this customer; booking ids are global, so they get its id."""
    sample: dict[str, Any] = json.loads((ROOT / "events" / f"{name}.json").read_text())
    sample["detail"]["customerId"] = customer_id
    if "bookingId" in sample["detail"]:
        sample["detail"]["bookingId"] = f"{customer_id}-{booking_id}"
    if "customer" in sample["detail"]:
        sample["detail"]["customer"]["email"] = f"{customer_id}@example.com"
    sample["detail"].update(detail)
    sample["id"] = str(uuid.uuid4())
    return sample


def deliver(function: str, payload: dict[str, Any]) -> Any:
    return handler(function).lambda_handler(payload, LambdaContext())


def test_a_completed_booking_earns_once_however_often_delivered(lambda_env, customer_id):
    completed = event("booking_completed", customer_id, "B-1")
    first = deliver("booking_completed", completed)
    again = deliver("booking_completed", {**completed, "id": str(uuid.uuid4())})
    assert first == again
    assert len(first["transactions"]) == 1
    summary = call("GET", f"/api/crm/customers/{customer_id}/points").body
    assert summary["currentBalance"] == 1_850
    assert summary["recentTransactions"][0]["bookingId"] == f"{customer_id}-B-1"
    profile = call("GET", "/api/crm/customers", query={"email": f"{customer_id}@example.com"})
    assert [p["customerId"] for p in profile.body["customers"]] == [customer_id]


def test_points_redeemed_at_checkout_are_recorded_once(lambda_env, customer_id):
    deliver("booking_completed", event("booking_completed", customer_id, "B-1"))
    paid = event("booking_completed", customer_id, "B-2", pointsRedeemed=500)
    deliver("booking_completed", paid)
    deliver("booking_completed", paid)
    history = call("GET", f"/api/crm/customers/{customer_id}/points/transactions").body
    kinds = [(e["type"], e["points"], e.get("bookingId")) for e in history["transactions"]]
    assert kinds.count(("REDEEM", -500, f"{customer_id}-B-2")) == 1


def test_a_redemption_made_through_the_api_is_not_made_again(
    lambda_env, service: PointsService, customer_id
):
    service.award(request(), customer_id=customer_id, amount=1_000, reason="Points")
    service.redeem(
        request(actor=Actor(user_id="booking-system", role="BOOKING_SYSTEM")),
        customer_id=customer_id,
        amount=300,
        reason="Checkout",
        booking_id=f"{customer_id}-B-3",
    )
    deliver("booking_completed", event("booking_completed", customer_id, "B-3", pointsRedeemed=300))
    account = service.account(customer_id)
    assert account.lifetime_redeemed == 300


def test_a_cancelled_booking_is_reversed_once(lambda_env, customer_id):
    deliver("booking_completed", event("booking_completed", customer_id, "B-4"))
    cancelled = event("booking_cancelled", customer_id, "B-4")
    deliver("booking_cancelled", cancelled)
    deliver("booking_cancelled", {**cancelled, "id": str(uuid.uuid4())})
    summary = call("GET", f"/api/crm/customers/{customer_id}/points").body
    assert (summary["currentBalance"], summary["lifetimeEarned"]) == (0, 0)


def test_a_late_completion_of_a_cancelled_booking_earns_nothing(lambda_env, customer_id):
    deliver("booking_completed", event("booking_completed", customer_id, "B-0"))
    deliver("booking_cancelled", event("booking_cancelled", customer_id, "B-5"))
    result = deliver("booking_completed", event("booking_completed", customer_id, "B-5"))
    assert result == {"transactions": []}


def test_an_older_customer_update_never_overwrites_a_newer_one(lambda_env, customer_id):
    newer = event("customer_updated", customer_id, "", email=f"{customer_id}@new.example")
    older = event("customer_updated", customer_id, "", email=f"{customer_id}@old.example")
    older["time"] = "2026-01-01T00:00:00Z"
    deliver("customer_updated", newer)
    deliver("customer_updated", older)
    found = call("GET", "/api/crm/customers", query={"email": f"{customer_id}@new.example"})
    assert [c["customerId"] for c in found.body["customers"]] == [customer_id]
    assert (
        call("GET", "/api/crm/customers", query={"email": f"{customer_id}@old.example"}).body[
            "customers"
        ]
        == []
    )


@pytest.mark.parametrize(
    "change",
    [
        {"currency": "USD"},
        {"amountCents": -1},
        {"customerId": "bad id"},
        {"completedAt": "2026-11-20T14:30:00"},
        # Numbers and flags as JSON types, not text that looks like them.
        {"amountCents": "10000"},
        {"pointsRedeemed": "100"},
        {"amountCents": True},
        # Times the product can compute with: between 2000 and 2199.
        {"completedAt": "9999-12-31T23:59:59Z"},
        {"completedAt": "0001-01-01T00:00:00+02:00"},
    ],
)
def test_a_malformed_event_fails_for_retry_and_writes_nothing(lambda_env, customer_id, change):
    bad = event("booking_completed", customer_id, "B-6", **change)
    with pytest.raises(ValidationError):
        deliver("booking_completed", bad)
    assert "TransactWriteItems" not in lambda_env.calls


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("customer_updated", {"notifyEmail": "false"}),
        ("customer_updated", {"notifySms": 0}),
        ("booking_cancelled", {"reason": "Cancelled \u001b]0;owned\u0007"}),
        ("customer_updated", {"firstName": "Jo\u202ehan"}),
    ],
)
def test_a_loosely_typed_event_fails_and_writes_nothing(lambda_env, customer_id, name, change):
    bad = event(name, customer_id, "B-13", **change)
    with pytest.raises(ValidationError):
        deliver(name, bad)
    assert lambda_env.total == 0


def test_a_customer_known_only_from_a_profile_event_has_an_empty_account(lambda_env, customer_id):
    assert call("GET", f"/api/crm/customers/{customer_id}/points").status == 404
    deliver("customer_updated", event("customer_updated", customer_id, ""))
    summary = call("GET", f"/api/crm/customers/{customer_id}/points")
    assert summary.status == 200
    assert (summary.body["currentBalance"], summary.body["recentTransactions"]) == (0, [])
    history = call("GET", f"/api/crm/customers/{customer_id}/points/transactions")
    assert (history.status, history.body["transactions"]) == (200, [])


def test_a_booking_whose_earn_is_refused_fails_the_event(lambda_env, customer_id):
    """A refusal other than "cancelled before its completion" is never reported as done: the
    event fails, so Lambda retries it and then dead-letters it."""
    deliver("booking_completed", event("booking_completed", customer_id, "B-7"))
    changed = event("booking_completed", customer_id, "B-7", amountCents=999_900)
    with pytest.raises(IdempotencyKeyReused):
        deliver("booking_completed", changed)
    overspent = event("booking_completed", customer_id, "B-8", pointsRedeemed=1_000_000)
    with pytest.raises(InsufficientPoints):
        deliver("booking_completed", overspent)


def test_a_booking_that_cannot_apply_in_full_writes_nothing_until_replayed(
    lambda_env, service: PointsService, customer_id
):
    """Earn and checkout redemption are one transaction: a redemption the points cannot
    cover leaves no EARN behind, and the same event replayed once the points are there
    applies both, once."""
    paid = event("booking_completed", customer_id, "B-11", pointsRedeemed=2_000)
    with pytest.raises(InsufficientPoints):
        deliver("booking_completed", paid)
    summary = call("GET", f"/api/crm/customers/{customer_id}/points").body
    assert (summary["currentBalance"], summary["recentTransactions"]) == (0, [])

    service.award(request(), customer_id=customer_id, amount=200, reason="Goodwill")
    lambda_env.reset()
    first = deliver("booking_completed", paid)
    assert lambda_env.calls["TransactWriteItems"] == 1
    again = deliver("booking_completed", {**paid, "id": str(uuid.uuid4())})
    assert first == again
    account = service.account(customer_id)
    assert (account.lifetime_earned, account.lifetime_redeemed) == (200 + 1_850, 2_000)
    assert account.current_balance == 200 + 1_850 - 2_000


def test_a_cancelled_booking_redeems_nothing_when_its_completion_arrives(
    lambda_env, service: PointsService, customer_id
):
    service.award(request(), customer_id=customer_id, amount=1_000, reason="Points")
    deliver("booking_cancelled", event("booking_cancelled", customer_id, "B-12"))
    late = event("booking_completed", customer_id, "B-12", pointsRedeemed=300)
    assert deliver("booking_completed", late) == {"transactions": []}
    assert service.account(customer_id).current_balance == 1_000


def test_only_the_named_no_op_outcomes_pass_quietly(lambda_env, customer_id, monkeypatch):
    def refuse(*_: Any, **__: Any) -> None:
        raise Conflict("The account cannot take this credit", {"customerId": customer_id})

    monkeypatch.setattr(runtime().service, "complete_booking", refuse)
    with pytest.raises(Conflict):
        deliver("booking_completed", event("booking_completed", customer_id, "B-9"))


def test_a_booking_under_one_rand_earns_nothing_and_is_done(lambda_env, customer_id):
    small = event("booking_completed", customer_id, "B-10", amountCents=99)
    assert deliver("booking_completed", small) == {"transactions": []}
