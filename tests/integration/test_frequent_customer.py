"""A corporate client with 10,000 completed bookings in a year, on DynamoDB Local: every
booking earns, the account stays small, and a reversal, an extension, the expiry run, a
reinstatement and a redemption of the whole balance work on it as on any account."""

from datetime import UTC, datetime, timedelta

import pytest

from crm_points.daily_runs import expire_points
from crm_points.ledger_service import PointsService
from crm_points.ledger_store import ScheduleStore, account_items
from crm_points.records import Actor, TransactionType
from tests.conftest import request
from tests.invariants import check_ledger

BOOKINGS = 10_000
START = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
SYSTEM = Actor(user_id="system")


@pytest.mark.slow
def test_ten_thousand_bookings_then_everything_a_ledger_does(
    service: PointsService, dynamodb, table_name, customer_id
):
    every = timedelta(days=365) / BOOKINGS
    bookings: list[str] = []
    award_lots: list[str] = []
    for number in range(BOOKINGS):
        moment = START + number * every
        booking = f"{customer_id}-B{number}"
        service.complete_booking(
            request(now=moment, actor=SYSTEM),
            customer_id=customer_id,
            booking_id=booking,
            completed_at=moment,
            amount_cents=10_000,
        )
        bookings.append(booking)
        if number % 1_000 == 500:  # a bonus with a date of its own, beyond the bookings'
            award = service.award(
                request(now=moment),
                customer_id=customer_id,
                amount=50,
                reason="Corporate bonus",
                expiry_date=moment + timedelta(days=800 + number // 100),
            )
            lot = award.transactions[0].point_batch_id
            assert lot is not None
            award_lots.append(lot)
    account = service.account(customer_id)
    earned = BOOKINGS * 100 + 10 * 50
    assert account.current_balance == earned
    # Every booking's points are one lot; each bonus is a lot of its own day.
    assert len(account.lots) == 1 + len(award_lots)
    assert max(len(str(item)) for item in account_items(account)) < 8_000
    main_lot = account.lots[0].point_batch_id

    # A booking in the middle is cancelled: its points come off the lot they joined.
    reversed_ = service.reverse_booking(
        request(now=START + timedelta(days=366), actor=SYSTEM),
        customer_id=customer_id,
        booking_id=bookings[BOOKINGS // 2],
        reason="Booking cancelled",
    )
    (reversal,) = reversed_.transactions
    assert (reversal.type, reversal.points) == (TransactionType.REVERSAL, -100)
    assert [(a.point_batch_id, a.points) for a in reversal.allocations] == [(main_lot, 100)]

    # One bonus lot is extended by its id.
    extended = service.extend_expiry(
        request(now=START + timedelta(days=366)),
        point_batch_id=award_lots[0],
        new_expiry_date=START + timedelta(days=2_000),
        reason="Loyal client",
    )
    assert extended.transactions[0].type is TransactionType.EXPIRY_EXTENDED

    # No booking for a year: the expiry run expires the bookings' lot (and the bonuses due).
    due = service.account(customer_id).lots[0].expires_at + timedelta(minutes=30)
    run = expire_points(service, ScheduleStore(dynamodb, table_name), due, "expiry-run")
    (expiry,) = [
        entry
        for entry in check_ledger(service.store, customer_id)
        if entry.transaction_id in run.transactions
    ]
    expired_lots = {a.point_batch_id for a in expiry.allocations}
    assert main_lot in expired_lots
    assert award_lots[0] not in expired_lots
    assert -expiry.points >= BOOKINGS * 100 - 100

    # A booking within the reinstatement window brings every expired point back, then earns.
    back = service.complete_booking(
        request(now=due + timedelta(days=10), actor=SYSTEM),
        customer_id=customer_id,
        booking_id=f"{customer_id}-back",
        completed_at=due + timedelta(days=10),
        amount_cents=10_000,
    )
    assert [entry.type for entry in back.transactions] == [
        TransactionType.RECOVER,
        TransactionType.EARN,
    ]

    # The whole balance in one redemption: one transaction, an allocation per lot.
    balance = service.account(customer_id).current_balance
    assert balance == earned - 100 + 100
    everything = service.redeem(
        request(now=due + timedelta(days=11)),
        customer_id=customer_id,
        amount=balance,
        reason="Everything at once",
    )
    (redemption,) = everything.transactions
    assert sum(a.points for a in redemption.allocations) == balance
    final = service.account(customer_id)
    assert (final.current_balance, final.lots) == (0, [])
    check_ledger(service.store, customer_id)
