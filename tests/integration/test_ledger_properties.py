"""Random sequences of every movement on DynamoDB Local, with the ledger's invariants
checked after every step (hypothesis stateful testing)."""

import uuid
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
)

from crm_points.config import PointsConfig
from crm_points.errors import Conflict, InsufficientPoints, PointsError, ValidationFailed
from crm_points.ledger_service import PointsService, Request
from crm_points.ledger_store import LedgerStore
from crm_points.records import Account, Actor, LedgerEntry, PostingResult
from crm_points.validation import end_of_business_day, latest_expiry
from tests.conftest import START
from tests.invariants import check_ledger

ADMIN = Actor(user_id="admin-1", role="ADMIN")
amounts = st.integers(min_value=1, max_value=2_000)


class LedgerMachine(RuleBasedStateMachine):
    """One customer's account driven by random movements, time jumps and replays."""

    store: LedgerStore
    config = PointsConfig()

    earned_bookings = Bundle("earned_bookings")
    redeemed_bookings = Bundle("redeemed_bookings")
    replays = Bundle("replays")

    def __init__(self) -> None:
        super().__init__()
        self.service = PointsService(self.store, self.config, sleep=lambda _: None)
        self.customer_id = f"prop-{uuid.uuid4().hex[:12]}"
        self.now = START
        self.seen: dict[int, LedgerEntry] = {}

    # -- helpers ----------------------------------------------------------------------

    def request(self, actor: Actor = ADMIN) -> Request:
        return Request(actor, f"r-{uuid.uuid4().hex[:8]}", self.now, uuid.uuid4().hex)

    def account(self) -> Account | None:
        return self.store.load_account(self.customer_id)

    def check_fifo(self, before: Account | None, result: PostingResult) -> None:
        """A debit's allocations are the lots' FIFO order, taken greedily."""
        assert before is not None
        remaining = {lot.point_batch_id: lot.remaining_points for lot in before.lots}
        wanted = -result.transactions[0].points
        expected = []
        # The spec's order (§2.3), written out here rather than borrowed from the code.
        spec_order = sorted(before.lots, key=lambda lot: (lot.expires_at, lot.earned_at))
        for lot in spec_order:
            if wanted == 0:
                break
            taken = min(wanted, remaining[lot.point_batch_id])
            wanted -= taken
            expected.append((lot.point_batch_id, taken))
        actual = [(a.point_batch_id, a.points) for a in result.transactions[0].allocations]
        assert actual == expected

    # -- movements --------------------------------------------------------------------

    @initialize()
    def open_account(self) -> None:
        self.service.award(
            self.request(), customer_id=self.customer_id, amount=500, reason="Sign-up bonus"
        )

    # Expiries up to the horizon spread the lots over many quarters, so over many pages.
    expiry_days = st.none() | st.integers(1, 400) | st.integers(1, 3660)

    @rule(target=replays, amount=amounts, days=expiry_days)
    def award(self, amount: int, days: int | None) -> Any:
        expiry = None if days is None else self.now + timedelta(days=days)
        request = self.request()
        call: dict[str, Any] = {
            "customer_id": self.customer_id,
            "amount": amount,
            "reason": "Bonus",
            "expiry_date": expiry,
        }
        result = self.service.award(request, **call)
        return ("award", request, call, result)

    @rule(target=replays, amount=amounts)
    def redeem(self, amount: int) -> Any:
        before = self.account()
        request = self.request()
        call: dict[str, Any] = {
            "customer_id": self.customer_id,
            "amount": amount,
            "reason": "Redeem",
        }
        try:
            result = self.service.redeem(request, **call)
        except InsufficientPoints:
            assert before is not None
            assert amount > sum(lot.remaining_points for lot in before.lots)
            return multiple()
        self.check_fifo(before, result)
        return ("redeem", request, call, result)

    # Deductions reach further than credits so that debts (§2.8) come up often.
    @rule(amount=st.integers(min_value=1, max_value=6_000), allow_negative=st.booleans())
    def deduct(self, amount: int, allow_negative: bool) -> None:
        before = self.account()
        try:
            result = self.service.deduct(
                self.request(),
                customer_id=self.customer_id,
                amount=amount,
                reason="Deduct",
                allow_negative=allow_negative,
            )
        except InsufficientPoints:
            assert not allow_negative
            return
        self.check_fifo(before, result)

    @rule(target=earned_bookings, amount_cents=st.integers(0, 500_000))
    def complete_booking(self, amount_cents: int) -> Any:
        booking_id = f"bk-{uuid.uuid4().hex[:10]}"
        try:
            self.service.complete_booking(
                self.request(),
                customer_id=self.customer_id,
                booking_id=booking_id,
                completed_at=self.now,
                amount_cents=amount_cents,
            )
        except PointsError:
            # A booking under R1 earns nothing and reinstates nothing: refused, not written.
            return multiple()
        return booking_id

    @rule(target=redeemed_bookings, amount=amounts)
    def redeem_at_checkout(self, amount: int) -> Any:
        booking_id = f"bk-{uuid.uuid4().hex[:10]}"
        try:
            self.service.redeem(
                self.request(),
                customer_id=self.customer_id,
                amount=amount,
                reason="Checkout",
                booking_id=booking_id,
            )
        except InsufficientPoints:
            return multiple()
        return booking_id

    @rule(booking_id=consumes(earned_bookings) | consumes(redeemed_bookings))
    def cancel_booking(self, booking_id: str) -> None:
        before = self.account()
        assert before is not None
        result = self.service.reverse_booking(
            self.request(),
            customer_id=self.customer_id,
            booking_id=booking_id,
            reason="Cancelled",
        )
        assert sum(entry.points for entry in result.transactions) == (
            result.current_balance - before.current_balance
        )
        again = self.service.reverse_booking(
            self.request(),
            customer_id=self.customer_id,
            booking_id=booking_id,
            reason="Cancelled",
        )
        assert again.replayed

    @rule(days=st.integers(1, 200))
    def time_passes(self, days: int) -> None:
        self.now += timedelta(days=days)

    @rule()
    def expiry_run(self) -> None:
        before = self.account()
        result = self.service.expire(customer_id=self.customer_id, now=self.now, request_id="x")
        assert before is not None
        due = sum(lot.remaining_points for lot in before.lots if lot.expires_at <= self.now)
        if result is not None and result.replayed:
            # The same run time again: answered as the first run was; nothing more is due.
            assert due == 0
        else:
            assert (-result.transactions[0].points if result else 0) == due

    @rule(data=st.data())
    def recover(self, data: st.DataObject) -> None:
        account = self.account()
        assert account is not None
        if not account.unrecovered_expiries:
            return
        expired = data.draw(st.sampled_from(account.unrecovered_expiries))
        request = self.request()
        self.service.recover_expired(
            request,
            transaction_id=expired.transaction_id,
            reason="Recover",
            new_expiry_date=self.now + timedelta(days=30),
        )
        with pytest.raises(Conflict):
            self.service.recover_expired(
                self.request(),
                transaction_id=expired.transaction_id,
                reason="Again",
                new_expiry_date=self.now + timedelta(days=30),
            )

    @rule(data=st.data(), days=st.integers(1, 400))
    def extend(self, data: st.DataObject, days: int) -> None:
        account = self.account()
        assert account is not None
        if not account.lots:
            return
        lot = data.draw(st.sampled_from(account.lots))
        new_date = max(lot.expires_at, self.now) + timedelta(days=days)
        extend = partial(
            self.service.extend_expiry,
            self.request(),
            point_batch_id=lot.point_batch_id,
            new_expiry_date=new_date,
            reason="Extend",
        )
        if end_of_business_day(new_date) <= latest_expiry(self.now):
            extend()
            return
        # Beyond the horizon: refused, and nothing written.
        with pytest.raises(ValidationFailed):
            extend()
        assert self.account() == account

    @rule(previous=replays)
    def replay(self, previous: Any) -> None:
        operation, request, call, first = previous
        before = self.account()
        again = getattr(self.service, operation)(request, **call)
        assert again.replayed
        assert again.transactions == first.transactions
        assert self.account() == before

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def ledger_is_consistent(self) -> None:
        if self.account() is not None:
            check_ledger(self.store, self.customer_id, self.seen)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_ledger_invariants_hold_for_random_sequences(store: LedgerStore) -> None:
    LedgerMachine.store = store
    run = LedgerMachine.TestCase
    run.settings = settings(
        max_examples=40,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    run().runTest()
