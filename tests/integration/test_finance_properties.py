"""Finance's roll-forward under random sequences of every movement spread over many months
(hypothesis stateful, on DynamoDB Local): the ledger machine's movements, time passing and
expiry runs, a change stream that counts the entries when it catches up (so some are
counted after their month was closed), and months closed as they end. After every step:
each month ties, the closed months never change, every counted entry is in exactly one
line of one month, each month's closing is the balances at its end, and every cohort's
lines sum to what it issued, its outstanding what the lots hold of it."""

import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule

from crm_points.analytics_store import AnalyticsStore
from crm_points.config import PointsConfig
from crm_points.finance import (
    ClosedPeriod,
    PointBalances,
    cohort_report,
    next_to_close,
    roll_forward,
)
from crm_points.ledger_store import LedgerStore
from crm_points.records import Actor, LedgerEntry, TransactionType
from crm_points.validation import month_of
from local.template import create_table
from tests.integration.test_ledger_properties import LedgerMachine
from tests.unit.test_finance import assert_ties

FINANCE = Actor(user_id="fin-1", role="FINANCE")
# The line each type of entry moves, by the sign of its points.
LINES = {
    ("EARN", 1): "earned",
    ("AWARD", 1): "awarded",
    ("RECOVER", 1): "recovered",
    ("REVERSAL", 1): "reversals_in",
    ("REDEEM", -1): "redeemed",
    ("DEDUCT", -1): "deducted",
    ("EXPIRE", -1): "expired",
    ("REVERSAL", -1): "reversals_out",
}


def by_line(entries: list[LedgerEntry]) -> Counter[str]:
    """The points of the entries summed by the roll-forward line they belong to."""
    lines: Counter[str] = Counter()
    for entry in entries:
        if entry.points:
            sign = 1 if entry.points > 0 else -1
            lines[LINES[(entry.type.value, sign)]] += abs(entry.points)
    return lines


class FinanceMachine(LedgerMachine):
    """The ledger machine on a table of its own, with the stream and finance beside it."""

    dynamodb: Any
    config = PointsConfig()

    def __init__(self) -> None:
        name = f"crm-points-finance-prop-{uuid.uuid4().hex[:8]}"
        create_table(self.dynamodb, name, stream=False)
        self.table = name
        self.store = LedgerStore(self.dynamodb, name)
        super().__init__()
        self.analytics = AnalyticsStore(self.dynamodb, name, sleep=lambda _: None)
        self.counted: dict[str, LedgerEntry] = {}
        self.closed: dict[str, ClosedPeriod] = {}

    def teardown(self) -> None:
        self.dynamodb.delete_table(TableName=self.table)

    def entries(self) -> list[LedgerEntry]:
        _, entries = self.store.ledger_of(self.customer_id)
        return entries

    @rule(share=st.sampled_from([0.5, 1.0]))
    def stream_catches_up(self, share: float) -> None:
        """The stream counts the entries it has not counted yet (half of them, or all)."""
        waiting = [e for e in self.entries() if e.transaction_id not in self.counted]
        batch = waiting[: max(1, int(len(waiting) * share))] if waiting else []
        self.analytics.count_all(batch)
        self.counted.update((entry.transaction_id, entry) for entry in batch)

    @rule(months=st.integers(1, 12))
    def finance_closes_months(self, months: int) -> None:
        """Finance closes the months that are over, in order, a few at a time."""
        for _ in range(months):
            month = next_to_close(self.analytics.ledger(), self.now)
            if month is None:
                return
            closed = self.analytics.close_period(
                month, FINANCE, self.now, self.config, f"close-{month}"
            )
            assert not closed.replayed
            self.closed[month] = closed.answer

    # Debts and recoveries come up rarely from the other rules: these make them.

    @rule(extra=st.integers(1, 3_000))
    def overdraw(self, extra: int) -> None:
        """An ADMIN deduction below zero (§2.8): a debt until credits settle it."""
        account = self.account()
        balance = account.current_balance if account else 0
        self.service.deduct(
            self.request(),
            customer_id=self.customer_id,
            amount=max(balance, 0) + extra,
            reason="Fraud",
            allow_negative=True,
        )

    @rule()
    def expire_the_soonest_lot_and_recover_it(self) -> None:
        """Time runs to the soonest lot's expiry; the run expires it, and staff recover it."""
        account = self.account()
        if account is None or not account.lots:
            return
        self.now = max(self.now, min(lot.expires_at for lot in account.lots)) + timedelta(seconds=1)
        result = self.service.expire(customer_id=self.customer_id, now=self.now, request_id="x")
        if result is None or result.replayed:
            return
        self.service.recover_expired(
            self.request(),
            transaction_id=result.transactions[0].transaction_id,
            reason="Recover",
            new_expiry_date=self.now + timedelta(days=30),
        )

    @invariant()
    def the_roll_forward_ties_to_the_ledger(self) -> None:
        ledger = self.analytics.ledger()
        assert ledger.periods == self.closed, "a closed month never changes"
        counted = list(self.counted.values())
        if not counted:
            return
        first = min(month_of(entry.created_at) for entry in counted)
        last = max(month_of(self.now), max(month_of(e.created_at) for e in counted))
        report = roll_forward(ledger, first, last, self.config)
        assert_ties(report)
        rows = {row.month: row for row in report.months}
        for month, period in self.closed.items():
            assert rows[month].points == period.points

        # Every counted entry is in exactly one line of one month, late ones included.
        reported: Counter[str] = Counter()
        for row in report.months:
            reported.update(row.points.movements.model_dump())
        assert +reported == +by_line(counted)

        # An open month's closing is the balance at its end of what has been counted; once
        # the stream has caught up, that is the account's balance at the month's end.
        caught_up = len(counted) == len(self.entries())
        for row in report.months:
            if row.status == "CLOSED":
                continue
            upto = [e for e in counted if month_of(e.created_at) <= row.month]
            assert row.points.closing == sum(entry.points for entry in upto)
            if caught_up and upto:
                last_entry = max(upto, key=lambda entry: entry.sequence)
                assert row.points.closing == last_entry.balance_after
                assert_split(row.points, last_entry.balance_after)

    @invariant()
    def every_cohort_sums_to_what_it_issued(self) -> None:
        counted = list(self.counted.values())
        if not counted:
            return
        report = cohort_report(self.analytics.ledger(), None, self.now, self.config)
        # A cohort issued what its month's EARN and AWARD entries credited.
        issued: Counter[str] = Counter()
        for entry in counted:
            if entry.type in (TransactionType.EARN, TransactionType.AWARD):
                issued[month_of(entry.created_at)] += entry.points
        assert {row.month: row.issued for row in report.cohorts if row.issued} == dict(issued)
        for row in report.cohorts:
            lines = (row.redeemed, row.deducted, row.expired, row.reversed, row.settled_debt)
            assert min(lines) >= 0, row
            assert row.outstanding >= 0, row
            assert row.issued == sum(lines) + row.outstanding
            assert Decimal(0) <= row.deferred_revenue <= row.amount
            if row.resolved:
                assert row.deferred_revenue == 0
        assert report.revenue.deferred_revenue == sum(r.deferred_revenue for r in report.cohorts)
        # Once the stream has caught up, what each cohort has outstanding is what the
        # customer's lots hold of it.
        if len(counted) == len(self.entries()):
            account = self.account()
            held: Counter[str] = Counter()
            for lot in account.lots if account else []:
                held.update(lot.issue_months)
            assert {r.month: r.outstanding for r in report.cohorts if r.outstanding} == dict(held)


def assert_split(points: PointBalances, balance: int) -> None:
    """One customer: the closing is outstanding when positive, a debt when negative."""
    assert (points.outstanding, points.debts) == (max(balance, 0), min(balance, 0))


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_the_roll_forward_ties_for_random_sequences_over_many_months(dynamodb: Any) -> None:
    FinanceMachine.dynamodb = dynamodb
    run = FinanceMachine.TestCase
    run.settings = settings(
        max_examples=15,
        stateful_step_count=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    run().runTest()
