"""The ledger rules as pure functions: no database."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_points import ledger
from crm_points.config import PointsConfig
from crm_points.errors import Conflict, InsufficientPoints, NotFound, ValidationFailed
from crm_points.ledger import BookingLedger, Context, Posting
from crm_points.records import Account, Actor, LedgerEntry, LotMerge, TransactionType
from crm_points.validation import end_of_business_day as day_end

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CONFIG = PointsConfig()
CUSTOMER = "c-1"


def ctx(now: datetime = NOW, config: PointsConfig = CONFIG) -> Context:
    return Context(now=now, actor=Actor(user_id="u-1", role="ADMIN"), request_id="r", config=config)


def awarded(*amounts_and_days: tuple[int, int]) -> Account:
    """An account holding one lot per (points, days until expiry)."""
    account = None
    for points, days in amounts_and_days:
        account = ledger.award(
            account,
            ctx(),
            customer_id=CUSTOMER,
            amount=points,
            reason="Setup",
            expiry_date=NOW + timedelta(days=days),
        ).account
    assert account is not None
    return account


def earning(account: Account | None, context: Context, **booking: Any) -> Posting:
    """The posting of a booking that moves points."""
    posting = ledger.complete_booking(account, context, **booking)
    assert posting is not None
    return posting


def identity_holds(account: Account) -> bool:
    return account.current_balance == (
        account.lifetime_earned - account.lifetime_redeemed - account.lifetime_expired
    )


def test_points_for_booking_floors():
    assert ledger.points_for_booking(12_399, CONFIG) == 123
    assert ledger.points_for_booking(99, CONFIG) == 0
    assert ledger.points_for_booking(10_000, PointsConfig(earn_rate="1.5")) == 150


def test_award_sets_default_validity_and_account_figures():
    posting = ledger.award(None, ctx(), customer_id=CUSTOMER, amount=250, reason="Welcome")
    assert posting.previous_version is None
    assert posting.account.version == 1
    (entry,) = posting.entries
    assert (entry.type, entry.points, entry.balance_after, entry.sequence) == (
        TransactionType.AWARD,
        250,
        250,
        1,
    )
    # Held to the end of its day in Africa/Johannesburg, when the daily run expires it.
    assert posting.account.lots[0].expires_at == day_end(NOW + timedelta(days=365))
    assert posting.account.lots[0].expires_at == datetime(2027, 3, 1, 21, 59, 59, 999_000, UTC)


def test_award_expiry_must_be_in_the_future():
    with pytest.raises(ValidationFailed):
        ledger.award(None, ctx(), customer_id=CUSTOMER, amount=1, reason="x", expiry_date=NOW)


def test_debit_is_fifo_and_the_points_of_one_day_are_one_lot():
    account = awarded((100, 50), (100, 10), (100, 10))
    later, sooner = account.lots
    assert (sooner.original_points, sooner.remaining_points) == (200, 200)
    posting = ledger.redeem(account, ctx(), customer_id=CUSTOMER, amount=250, reason="Buy")
    allocations = [(a.point_batch_id, a.points) for a in posting.entries[0].allocations]
    assert allocations == [(sooner.point_batch_id, 200), (later.point_batch_id, 50)]
    assert [(lot.point_batch_id, lot.remaining_points) for lot in posting.account.lots] == [
        (later.point_batch_id, 50),
    ]


def test_a_credit_names_the_lot_it_joined():
    account = awarded((100, 10))
    (lot,) = account.lots
    posting = ledger.award(
        account,
        ctx(NOW + timedelta(hours=3)),
        customer_id=CUSTOMER,
        amount=50,
        reason="Same day, later hour",
        expiry_date=NOW + timedelta(days=10, hours=5),
    )
    assert posting.entries[0].point_batch_id == lot.point_batch_id
    (joined,) = posting.account.lots
    assert (joined.original_points, joined.remaining_points) == (150, 150)
    assert (joined.earned_at, joined.transaction_id) == (lot.earned_at, lot.transaction_id)


def test_redeem_cannot_overdraw():
    account = awarded((100, 30))
    with pytest.raises(InsufficientPoints) as refused:
        ledger.redeem(account, ctx(), customer_id=CUSTOMER, amount=101, reason="Too much")
    assert refused.value.details == {"available": 100, "requested": 101}


def test_redeem_of_unknown_customer_is_not_found():
    with pytest.raises(NotFound):
        ledger.redeem(None, ctx(), customer_id=CUSTOMER, amount=1, reason="x")


def test_debt_is_settled_before_new_points_are_spendable():
    account = awarded((100, 30))
    account = ledger.deduct(
        account, ctx(), customer_id=CUSTOMER, amount=250, reason="Fraud", allow_negative=True
    ).account
    assert (account.current_balance, account.lots) == (-150, [])
    partial = ledger.award(account, ctx(), customer_id=CUSTOMER, amount=100, reason="Part")
    assert partial.account.current_balance == -50
    assert partial.account.lots == []
    assert partial.entries[0].settled_debt == 100
    settled = ledger.award(partial.account, ctx(), customer_id=CUSTOMER, amount=80, reason="Rest")
    assert settled.entries[0].settled_debt == 50
    assert [lot.remaining_points for lot in settled.account.lots] == [30]
    assert identity_holds(settled.account)


def test_expire_takes_due_lots_only_and_remembers_them_for_recovery():
    account = awarded((40, 5), (60, 50))
    posting = ledger.expire(account, ctx(NOW + timedelta(days=6)), customer_id=CUSTOMER)
    assert posting is not None
    (entry,) = posting.entries
    assert (entry.type, entry.points) == (TransactionType.EXPIRE, -40)
    assert posting.account.lifetime_expired == 40
    assert [x.points for x in posting.account.unrecovered_expiries] == [40]
    assert (
        ledger.expire(posting.account, ctx(NOW + timedelta(days=6)), customer_id=CUSTOMER) is None
    )


def test_recover_once_then_conflict():
    account = awarded((40, 5))
    later = NOW + timedelta(days=6)
    expired = ledger.expire(account, ctx(later), customer_id=CUSTOMER)
    assert expired is not None
    expire_id = expired.entries[0].transaction_id
    recovered = ledger.recover_expired(
        expired.account,
        ctx(later),
        customer_id=CUSTOMER,
        expire_transaction_id=expire_id,
        reason="Goodwill",
        new_expiry_date=later + timedelta(days=30),
    )
    assert recovered.account.current_balance == 40
    assert recovered.account.lifetime_expired == 0
    assert recovered.entries[0].related_transaction_id == expire_id
    with pytest.raises(Conflict):
        ledger.recover_expired(
            recovered.account,
            ctx(later),
            customer_id=CUSTOMER,
            expire_transaction_id=expire_id,
            reason="Again",
            new_expiry_date=later + timedelta(days=30),
        )


def test_booking_rolls_expiry_and_reinstates_recent_expiries():
    account = awarded((40, 5), (60, 100))
    expired_at = NOW + timedelta(days=6)
    expired = ledger.expire(account, ctx(expired_at), customer_id=CUSTOMER)
    assert expired is not None
    completed = expired_at + timedelta(days=30)
    posting = earning(
        expired.account,
        ctx(completed),
        customer_id=CUSTOMER,
        booking_id="b-1",
        completed_at=completed,
        amount_cents=50_000,
    )
    kinds = [(e.type, e.points) for e in posting.entries]
    assert kinds == [(TransactionType.RECOVER, 40), (TransactionType.EARN, 500)]
    keep_until = day_end(completed + timedelta(days=365))
    # The 60 points rolled to the booking's expiry; the reinstated 40 and the 500 earned
    # joined them: one lot, the oldest's.
    (lot,) = posting.account.lots
    assert (lot.expires_at, lot.remaining_points) == (keep_until, 600)
    assert {entry.point_batch_id for entry in posting.entries} == {lot.point_batch_id}
    assert posting.account.current_balance == 600
    assert identity_holds(posting.account)


def test_a_booking_with_a_checkout_redemption_is_one_posting_within_the_entry_bound():
    account = None
    for day in range(1, 26):  # 25 lots expiring on 25 days, so 25 separate expiries
        account = ledger.award(
            account,
            ctx(),
            customer_id=CUSTOMER,
            amount=10,
            reason="Setup",
            expiry_date=NOW + timedelta(days=day),
        ).account
    for day in range(2, 27):
        assert account is not None
        run = ledger.expire(account, ctx(NOW + timedelta(days=day)), customer_id=CUSTOMER)
        assert run is not None
        account = run.account
    assert account is not None
    assert len(account.unrecovered_expiries) == 25
    completed = NOW + timedelta(days=27)
    posting = earning(
        account,
        ctx(completed),
        customer_id=CUSTOMER,
        booking_id="b-1",
        completed_at=completed,
        amount_cents=50_000,
        points_redeemed=600,
    )
    kinds = [entry.type for entry in posting.entries]
    assert len(kinds) == ledger.MAX_ENTRIES_PER_POSTING
    assert kinds == [TransactionType.RECOVER] * 18 + [TransactionType.EARN, TransactionType.REDEEM]
    assert posting.account.current_balance == 180 + 500 - 600
    assert posting.entries[-1].booking_id == "b-1"
    assert identity_holds(posting.account)


def test_a_booking_whose_redemption_the_points_cannot_cover_is_refused_whole():
    account = awarded((40, 5))
    with pytest.raises(InsufficientPoints):
        earning(
            account,
            ctx(),
            customer_id=CUSTOMER,
            booking_id="b-1",
            completed_at=NOW,
            amount_cents=1_000,
            points_redeemed=51,
        )


def test_reinstatement_window_is_respected():
    account = awarded((40, 5))
    expired = ledger.expire(account, ctx(NOW + timedelta(days=6)), customer_id=CUSTOMER)
    assert expired is not None
    completed = NOW + timedelta(days=6 + 91)
    posting = earning(
        expired.account,
        ctx(completed),
        customer_id=CUSTOMER,
        booking_id="b-1",
        completed_at=completed,
        amount_cents=1_000,
    )
    assert [e.type for e in posting.entries] == [TransactionType.EARN]


def test_rolling_expiry_can_be_switched_off():
    account = awarded((40, 5))
    config = PointsConfig(rolling_expiry=False)
    posting = earning(
        account,
        ctx(config=config),
        customer_id=CUSTOMER,
        booking_id="b-1",
        completed_at=NOW,
        amount_cents=1_000,
    )
    assert min(lot.expires_at for lot in posting.account.lots) == day_end(NOW + timedelta(days=5))


def test_extend_expiry_only_later_and_only_active_lots():
    account = awarded((40, 5))
    lot_id = account.lots[0].point_batch_id
    with pytest.raises(ValidationFailed):
        ledger.extend_expiry(
            account,
            ctx(),
            customer_id=CUSTOMER,
            point_batch_id=lot_id,
            new_expiry_date=NOW + timedelta(days=4),
            reason="Shorter",
        )
    with pytest.raises(Conflict):
        ledger.extend_expiry(
            account,
            ctx(),
            customer_id=CUSTOMER,
            point_batch_id="gone",
            new_expiry_date=NOW + timedelta(days=40),
            reason="Missing",
        )
    posting = ledger.extend_expiry(
        account,
        ctx(),
        customer_id=CUSTOMER,
        point_batch_id=lot_id,
        new_expiry_date=NOW + timedelta(days=40),
        reason="Loyal",
    )
    entry = posting.entries[0]
    assert (entry.points, entry.old_expiry_date, entry.new_expiry_date) == (
        0,
        day_end(NOW + timedelta(days=5)),
        day_end(NOW + timedelta(days=40)),
    )


def test_rolling_expiry_makes_the_rolled_lots_one_and_says_so_on_the_earn():
    account = awarded((100, 20), (50, 5), (70, 900))
    first, second, far = account.lots
    posting = earning(
        account,
        ctx(),
        customer_id=CUSTOMER,
        booking_id="b-1",
        completed_at=NOW,
        amount_cents=1_000,
    )
    (earn,) = posting.entries
    # Both rolled lots now end on the booking's day and become one: the lot made first stays
    # (of equal expiry, the oldest is spent first), the other joins it, and so does the EARN.
    # The far lot keeps its day.
    assert earn.merged_lots == [
        LotMerge(
            point_batch_id=second.point_batch_id,
            merged_into=first.point_batch_id,
            points=50,
            issue_months={"2026-03": 50},
        )
    ]
    assert earn.point_batch_id == first.point_batch_id
    assert [(lot.point_batch_id, lot.remaining_points) for lot in posting.account.lots] == [
        (first.point_batch_id, 160),
        (far.point_batch_id, 70),
    ]
    assert posting.account.lots[0].original_points == 160


def test_a_booking_under_one_rand_with_nothing_to_bring_back_moves_no_points():
    account = awarded((100, 20))
    posting = ledger.complete_booking(
        account,
        ctx(),
        customer_id=CUSTOMER,
        booking_id="b-small",
        completed_at=NOW,
        amount_cents=99,
    )
    assert posting is None


def test_a_booking_paid_wholly_with_points_says_the_merges_on_its_redemption():
    account = awarded((100, 20), (50, 5))
    first, second = account.lots
    posting = earning(
        account,
        ctx(),
        customer_id=CUSTOMER,
        booking_id="b-free",
        completed_at=NOW,
        amount_cents=0,
        points_redeemed=30,
    )
    (redemption,) = posting.entries
    assert redemption.type == TransactionType.REDEEM
    assert [merge.point_batch_id for merge in redemption.merged_lots] == [second.point_batch_id]
    (lot,) = posting.account.lots
    assert (lot.point_batch_id, lot.remaining_points) == (first.point_batch_id, 120)


def test_a_cancelled_booking_takes_its_own_month_first_wherever_a_merge_put_it():
    january = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    account = ledger.award(
        None,
        ctx(january),
        customer_id=CUSTOMER,
        amount=100,
        reason="Setup",
        expiry_date=january + timedelta(days=400),
    ).account
    # A booking in March earns 50 points in a lot of its own (no rolling expiry); then the
    # January lot is extended onto that lot's day and absorbs it.
    fixed = ctx(config=PointsConfig(rolling_expiry=False))
    booked = earning(
        account,
        fixed,
        customer_id=CUSTOMER,
        booking_id="b-1",
        completed_at=NOW,
        amount_cents=5_000,
    )
    earn = booked.entries[-1]
    assert earn.expires_at is not None
    extended = ledger.extend_expiry(
        booked.account,
        fixed,
        customer_id=CUSTOMER,
        point_batch_id=account.lots[0].point_batch_id,
        new_expiry_date=earn.expires_at,
        reason="Together",
    )
    (lot,) = extended.account.lots
    assert lot.issue_months == {"2026-01": 100, "2026-03": 50}
    reversal = ledger.reverse_booking(
        extended.account,
        ctx(),
        customer_id=CUSTOMER,
        booking_id="b-1",
        booking=BookingLedger(earn=earn, redeem=None),
        reason="Cancelled",
    )
    assert reversal is not None
    (allocation,) = reversal.entries[0].allocations
    assert allocation.issue_months == {"2026-03": 50}


def test_an_extension_onto_a_day_held_by_another_lot_keeps_the_extended_lots_id():
    account = awarded((40, 5), (60, 40))
    short, long = account.lots
    posting = ledger.extend_expiry(
        account,
        ctx(),
        customer_id=CUSTOMER,
        point_batch_id=short.point_batch_id,
        new_expiry_date=NOW + timedelta(days=40),
        reason="Loyal",
    )
    (entry,) = posting.entries
    assert entry.description == "Expiry of 40 points extended"
    assert entry.merged_lots == [
        LotMerge(
            point_batch_id=long.point_batch_id,
            merged_into=short.point_batch_id,
            points=60,
            issue_months={"2026-03": 60},
        )
    ]
    (lot,) = posting.account.lots
    assert (lot.point_batch_id, lot.remaining_points, lot.expires_at) == (
        short.point_batch_id,
        100,
        long.expires_at,
    )


def test_reversal_takes_the_booking_lot_first_and_may_go_negative():
    account = awarded((100, 5))
    earned = earning(
        account,
        ctx(),
        customer_id=CUSTOMER,
        booking_id="b-1",
        completed_at=NOW,
        amount_cents=30_000,
    )
    spent = ledger.redeem(
        earned.account, ctx(), customer_id=CUSTOMER, amount=350, reason="Spend"
    ).account
    reversal = ledger.reverse_booking(
        spent,
        ctx(),
        customer_id=CUSTOMER,
        booking_id="b-1",
        booking=BookingLedger(earn=earned.entries[0], redeem=None),
        reason="Cancelled",
    )
    assert reversal is not None
    assert reversal.account.current_balance == -250
    assert reversal.account.lifetime_earned == 100
    assert identity_holds(reversal.account)


def test_reversal_of_nothing_is_nothing():
    account = awarded((100, 5))
    empty = BookingLedger(earn=None, redeem=None)
    assert (
        ledger.reverse_booking(
            account, ctx(), customer_id=CUSTOMER, booking_id="b", booking=empty, reason="x"
        )
        is None
    )


def test_a_debit_across_many_lots_is_one_posting():
    account = awarded(*[(2, 10 + day) for day in range(500)])
    posting = ledger.redeem(account, ctx(), customer_id=CUSTOMER, amount=999, reason="All")
    assert len(posting.entries) == 1
    assert len(posting.entries[0].allocations) == 500
    assert [lot.remaining_points for lot in posting.account.lots] == [1]


@pytest.mark.parametrize("attempt", range(20))
def test_lots_earned_at_the_same_moment_are_spent_in_creation_order(attempt):
    # Same `now`, same expiry: their ids share a timestamp, and with other ids made in
    # between (another request, another Lambda instance) their random parts are unordered,
    # so only creation order can break the tie.
    account = None
    for _ in range(3):
        ledger.new_id(NOW + timedelta(days=1))
        account = ledger.award(
            account, ctx(), customer_id=CUSTOMER, amount=10, reason="Same moment"
        ).account
    assert account is not None
    created = [lot.point_batch_id for lot in account.lots]
    posting = ledger.redeem(account, ctx(), customer_id=CUSTOMER, amount=15, reason="Buy")
    assert [a.point_batch_id for a in posting.entries[0].allocations] == created[:2]


def refund(account: Account, earn: LedgerEntry, when: datetime) -> Posting:
    """Cancel booking b-1, whose EARN was `earn`."""
    reversal = ledger.reverse_booking(
        account,
        ctx(when),
        customer_id=CUSTOMER,
        booking_id="b-1",
        booking=BookingLedger(earn=earn, redeem=None),
        reason="Refunded",
    )
    assert reversal is not None
    return reversal


def test_cancelling_a_booking_whose_points_expired_does_not_take_them_twice():
    earned = earning(
        awarded((200, 400)),
        ctx(),
        customer_id=CUSTOMER,
        booking_id="b-1",
        completed_at=NOW,
        amount_cents=100_000,
    )
    later = NOW + timedelta(days=366)
    expired = ledger.expire(earned.account, ctx(later), customer_id=CUSTOMER)
    assert expired is not None
    assert expired.account.current_balance == 200
    reversal = refund(expired.account, earned.entries[0], later)
    (entry,) = reversal.entries
    assert (entry.type, entry.points, entry.already_expired) == (
        TransactionType.REVERSAL,
        0,
        1_000,
    )
    account = reversal.account
    assert account.current_balance == 200
    assert (account.lifetime_earned, account.lifetime_expired) == (200, 0)
    # The cancelled booking's expired points can no longer be recovered.
    assert account.unrecovered_expiries == []
    assert identity_holds(account)


def test_cancelling_after_part_of_the_points_expired_takes_only_the_rest():
    earned = earning(
        None,
        ctx(),
        customer_id=CUSTOMER,
        booking_id="b-1",
        completed_at=NOW,
        amount_cents=100_000,
    )
    lot_id = earned.account.lots[0].point_batch_id
    spent = ledger.redeem(
        earned.account, ctx(), customer_id=CUSTOMER, amount=400, reason="Spend"
    ).account
    later = NOW + timedelta(days=366)
    expired = ledger.expire(spent, ctx(later), customer_id=CUSTOMER)
    assert expired is not None
    assert expired.entries[0].allocations[0].point_batch_id == lot_id
    reversal = refund(expired.account, earned.entries[0], later)
    # 1,000 earned: 400 spent (taken back, into debt), 600 expired (not taken again).
    assert reversal.entries[0].points == -400
    assert reversal.account.current_balance == -400
    assert identity_holds(reversal.account)


def test_a_customer_with_ten_thousand_bookings_a_year_earns_on_every_one():
    """No cap on a frequent customer: with rolling expiry the points of every booking are one
    lot, awards with their own dates stay lots of their own days, and the account stays small;
    one redemption takes the whole balance."""
    account = None
    every = timedelta(days=365) / 10_000
    for number in range(10_000):
        moment = NOW + number * every
        account = earning(
            account,
            ctx(moment),
            customer_id=CUSTOMER,
            booking_id=f"b-{number}",
            completed_at=moment,
            amount_cents=1_000,
        ).account
        if number % 500 == 0:  # a bonus now and then, with a date of its own
            account = ledger.award(
                account,
                ctx(moment),
                customer_id=CUSTOMER,
                amount=25,
                reason="Bonus",
                expiry_date=moment + timedelta(days=500 + number // 100),
            ).account
    assert account is not None
    assert account.current_balance == 10_000 * 10 + 20 * 25
    # One lot for the bookings, and the bonuses whose day lies beyond the last booking's.
    assert len(account.lots) <= 21
    assert len(account.model_dump_json()) < 8_000
    posting = ledger.redeem(
        account, ctx(NOW + timedelta(days=365)), customer_id=CUSTOMER, amount=100_500, reason="All"
    )
    (redemption,) = posting.entries
    assert sum(a.points for a in redemption.allocations) == 100_500
    assert len(redemption.allocations) == len(account.lots)
    assert posting.account.lots == []
    assert identity_holds(posting.account)


def completed(amount_cents: int, redeemed: int = 0) -> tuple[Account, BookingLedger]:
    """An account after a booking of `amount_cents` (with `redeemed` points paid at checkout
    out of an earlier award), and the booking as the ledger recorded it."""
    account = awarded((redeemed, 400)) if redeemed else None
    posting = earning(
        account,
        ctx(),
        customer_id=CUSTOMER,
        booking_id="b-1",
        completed_at=NOW,
        amount_cents=amount_cents,
        points_redeemed=redeemed,
    )
    earn = next((e for e in posting.entries if e.type is TransactionType.EARN), None)
    redeem = next((e for e in posting.entries if e.type is TransactionType.REDEEM), None)
    return posting.account, BookingLedger(earn=earn, redeem=redeem, amount_cents=amount_cents)


@given(
    amount=st.integers(min_value=1, max_value=10**7),
    cuts=st.lists(st.floats(min_value=0, max_value=1), max_size=6),
)
def test_refunds_in_any_parts_reverse_exactly_the_booking(amount, cuts):
    """However a booking's amount is split into refunds, each reverses at least nothing and
    together they reverse its EARN and return its redemption exactly."""
    account, booking = completed(amount, redeemed=37)
    points = sorted({int(amount * cut) for cut in cuts} | {amount})
    parts = [b - a for a, b in zip([0, *points], points, strict=False) if b > a]
    reversed_total = returned_total = 0
    for number, part in enumerate(parts):
        after = ledger.refunds_after(booking, "b-1", part)
        posting = ledger.refund_booking(
            account,
            ctx(),
            customer_id=CUSTOMER,
            booking_id="b-1",
            booking=booking,
            after=after,
            refund_id=f"r-{number}",
            refunded_cents=part,
            reason="Refund",
        )
        for entry in posting.entries if posting else []:
            assert entry.refund_id == f"r-{number}"
            if entry.points < 0:
                reversed_total -= entry.points
            else:
                returned_total += entry.points
        account = posting.account if posting else account
        booking = BookingLedger(booking.earn, booking.redeem, booking.amount_cents, after)
        assert identity_holds(account)
    assert reversed_total == booking.earned
    assert returned_total == booking.redeemed == 37
    with pytest.raises(ValidationFailed):
        ledger.refunds_after(booking, "b-1", 1)  # the whole amount is refunded


def test_a_booking_completed_before_amounts_were_kept_cannot_be_refunded_in_part():
    _, booking = completed(10_000)
    legacy = BookingLedger(booking.earn, booking.redeem, amount_cents=None)
    with pytest.raises(ValidationFailed, match="before booking amounts were kept"):
        ledger.refunds_after(legacy, "b-1", 100)
