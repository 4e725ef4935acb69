"""Partial refunds (`Booking Refunded`) through the real handler, with events/*.json's shape:
shares of the EARN reversed and of the redemption returned, once per refund, never more
than the booking, and a cancellation after them reversing only the rest."""

import uuid
from typing import Any

import pytest

from crm_points.errors import BookingNotCompleted, IdempotencyKeyReused, RefundExceedsBooking
from crm_points.ledger_service import PointsService
from crm_points.records import LedgerEntry, TransactionType
from tests.conftest import request
from tests.integration.test_booking_events import deliver, event
from tests.invariants import check_ledger

# The sample booking: R1,850.00, earning 1,850 points at the default rate.
AMOUNT = 185_000


def refund(customer_id: str, booking: str, refund_id: str, cents: int, **detail: Any) -> Any:
    payload = event(
        "booking_refunded",
        customer_id,
        booking,
        refundId=refund_id,
        refundedAmountCents=cents,
        **detail,
    )
    return deliver("booking_refunded", payload)


def reversals(service: PointsService, customer_id: str) -> list[LedgerEntry]:
    return [
        entry
        for entry in check_ledger(service.store, customer_id)
        if entry.type is TransactionType.REVERSAL
    ]


def test_two_partial_refunds_then_a_cancellation_reverse_exactly_the_booking(
    lambda_env, service: PointsService, customer_id
):
    service.award(request(), customer_id=customer_id, amount=1_000, reason="Welcome")
    deliver("booking_completed", event("booking_completed", customer_id, "B-1", pointsRedeemed=400))
    assert service.account(customer_id).current_balance == 1_000 + 1_850 - 400

    # A quarter: floor(1,850 / 4) = 462 of the earn, 100 of the 400 redeemed.
    first = refund(customer_id, "B-1", "R-1", AMOUNT // 4)
    assert len(first["transactions"]) == 2
    # Three quarters in all: 1,387 of the earn (925 more), 300 redeemed (200 more).
    refund(customer_id, "B-1", "R-2", AMOUNT // 2)
    deliver("booking_cancelled", event("booking_cancelled", customer_id, "B-1"))

    found = reversals(service, customer_id)
    assert [(e.points, e.refund_id) for e in found] == [
        (100, "R-1"),
        (-462, "R-1"),
        (200, "R-2"),
        (-925, "R-2"),
        (100, None),
        (-463, None),
    ]
    assert sum(e.points for e in found if e.points < 0) == -1_850
    assert sum(e.points for e in found if e.points > 0) == 400
    assert found[1].description == (
        f"462 of 1,850 points earned on booking {customer_id}-B-1 reversed: "
        "R462.50 of R1,850.00 refunded"
    )
    assert found[0].description == (
        f"100 of 400 points redeemed on booking {customer_id}-B-1 returned: "
        "R462.50 of R1,850.00 refunded"
    )
    account = service.account(customer_id)
    assert (account.current_balance, account.lifetime_earned, account.lifetime_redeemed) == (
        1_000,
        1_000,
        0,
    )


def test_the_refund_that_completes_the_amount_takes_what_remains(
    lambda_env, service: PointsService, customer_id
):
    # R10.00 earns 10 points; three refunds of a third each reverse 3, 3 and then 4.
    completed = event("booking_completed", customer_id, "B-2", amountCents=1_000)
    deliver("booking_completed", completed)
    for number, cents in enumerate((333, 333, 334)):
        refund(customer_id, "B-2", f"R-{number}", cents)
    assert [e.points for e in reversals(service, customer_id)] == [-3, -3, -4]
    assert service.account(customer_id).current_balance == 0
    # Nothing is left: a cancellation now reverses nothing more.
    deliver("booking_cancelled", event("booking_cancelled", customer_id, "B-2"))
    assert len(reversals(service, customer_id)) == 3


def test_a_refund_too_small_for_a_point_counts_towards_the_next(
    lambda_env, service: PointsService, customer_id
):
    deliver("booking_completed", event("booking_completed", customer_id, "B-3", amountCents=1_000))
    assert refund(customer_id, "B-3", "R-a", 50) == {"transactions": []}
    # 50 + 60 cents of R10.00 is 1.1 points' worth: one point goes now.
    refund(customer_id, "B-3", "R-b", 60)
    assert [e.points for e in reversals(service, customer_id)] == [-1]


def test_a_refund_delivered_again_counts_once_and_its_id_is_its_own(
    lambda_env, service: PointsService, customer_id
):
    deliver("booking_completed", event("booking_completed", customer_id, "B-4"))
    payload = event("booking_refunded", customer_id, "B-4", refundId="R-1")
    first = deliver("booking_refunded", payload)
    again = deliver("booking_refunded", {**payload, "id": str(uuid.uuid4())})
    assert first == again
    # A later refund does not change what the first one answers when it comes again.
    refund(customer_id, "B-4", "R-2", 10_000)
    assert deliver("booking_refunded", {**payload, "id": str(uuid.uuid4())}) == first
    assert len(reversals(service, customer_id)) == 2
    lambda_env.reset()
    with pytest.raises(IdempotencyKeyReused):
        refund(customer_id, "B-4", "R-1", 20_000)
    with pytest.raises(IdempotencyKeyReused):
        refund(customer_id, "B-4", "R-1", 30_000, refundedAt="2026-11-23T09:30:00Z")
    assert "TransactWriteItems" not in lambda_env.calls


def test_refunds_beyond_the_booking_or_of_an_unknown_booking_write_nothing(
    lambda_env, service: PointsService, customer_id
):
    deliver("booking_completed", event("booking_completed", customer_id, "B-5"))
    lambda_env.reset()
    with pytest.raises(RefundExceedsBooking) as too_much:
        refund(customer_id, "B-5", "R-1", AMOUNT + 1)
    assert too_much.value.details["amountCents"] == AMOUNT
    refund(customer_id, "B-5", "R-2", 100_000)
    lambda_env.reset()
    with pytest.raises(RefundExceedsBooking):
        refund(customer_id, "B-5", "R-3", AMOUNT - 100_000 + 1)
    with pytest.raises(BookingNotCompleted):
        refund(customer_id, "B-unknown", "R-4", 100)
    assert "TransactWriteItems" not in lambda_env.calls
    assert len(reversals(service, customer_id)) == 1


def test_a_refund_after_a_cancellation_changes_nothing(
    lambda_env, service: PointsService, customer_id
):
    deliver("booking_completed", event("booking_completed", customer_id, "B-6"))
    deliver("booking_cancelled", event("booking_cancelled", customer_id, "B-6"))
    lambda_env.reset()
    assert refund(customer_id, "B-6", "R-1", 10_000) == {"transactions": []}
    assert "TransactWriteItems" not in lambda_env.calls
    assert service.account(customer_id).current_balance == 0


def test_a_booking_too_small_to_earn_is_refunded_and_cancelled_with_nothing_to_take_back(
    lambda_env, service: PointsService, customer_id
):
    # Its completion moved no points, but is recorded: refunds of it are not dead-lettered.
    small = event("booking_completed", customer_id, "B-8", amountCents=99)
    assert deliver("booking_completed", small) == {"transactions": []}
    assert refund(customer_id, "B-8", "R-1", 50) == {"transactions": []}
    assert deliver("booking_cancelled", event("booking_cancelled", customer_id, "B-8")) == {
        "transactions": []
    }
    assert refund(customer_id, "B-8", "R-2", 49) == {"transactions": []}
    assert service.store.load_account(customer_id) is None  # no entry, no account


def test_a_refund_of_spent_points_takes_the_balance_below_zero(
    lambda_env, service: PointsService, customer_id
):
    deliver("booking_completed", event("booking_completed", customer_id, "B-7"))
    service.redeem(request(), customer_id=customer_id, amount=1_850, reason="Spa day")
    refund(customer_id, "B-7", "R-1", AMOUNT // 2)
    account = service.account(customer_id)
    assert (account.current_balance, account.lots) == (-925, [])
    # The debt is settled first by the next points the customer earns (SPEC §2.8).
    service.award(request(), customer_id=customer_id, amount=1_000, reason="Goodwill")
    assert service.account(customer_id).current_balance == 75
    check_ledger(service.store, customer_id)


@pytest.mark.parametrize(
    "change",
    [
        {"refundedAmountCents": 0},
        {"refundedAmountCents": "100"},
        {"refundId": "bad id"},
        {"refundedAt": "2026-11-22T09:30:00"},
        {"reason": ""},
    ],
)
def test_a_malformed_refund_fails_and_writes_nothing(lambda_env, customer_id, change):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        deliver("booking_refunded", event("booking_refunded", customer_id, "B-8", **change))
    assert lambda_env.total == 0
