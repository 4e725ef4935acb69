"""A statement's rules without a database: the period, the totals, the schedule, the CSV."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from crm_points import ledger
from crm_points.config import PointsConfig
from crm_points.errors import ValidationFailed
from crm_points.ledger import Context
from crm_points.records import Actor
from crm_points.statements import require_period, statement, statement_csv

NOW = datetime(2026, 5, 4, 10, tzinfo=UTC)


def ctx(now: datetime) -> Context:
    return Context(
        now=now, actor=Actor(user_id="u-1", role="ADMIN"), request_id="r", config=PointsConfig()
    )


def test_a_period_is_a_day_at_least_and_a_year_at_most():
    require_period(date(2026, 4, 1), date(2026, 4, 1))
    require_period(date(2024, 1, 1), date(2024, 12, 31))  # 366 days, a leap year
    with pytest.raises(ValidationFailed, match="same day as from or later"):
        require_period(date(2026, 4, 2), date(2026, 4, 1))
    with pytest.raises(ValidationFailed, match="at most 366 days"):
        require_period(date(2025, 1, 1), date(2026, 1, 2))


def test_the_totals_take_the_opening_to_the_closing_and_the_schedule_sums_by_day():
    awarded = ledger.award(None, ctx(NOW), customer_id="c", amount=500, reason="Welcome")
    again = ledger.award(
        awarded.account,
        ctx(NOW),
        customer_id="c",
        amount=70,
        reason="=SUM(A1)",
        expiry_date=NOW + timedelta(days=365),
    )
    redeemed = ledger.redeem(again.account, ctx(NOW), customer_id="c", amount=120, reason="Massage")
    deducted = ledger.deduct(
        redeemed.account, ctx(NOW), customer_id="c", amount=30, reason="Correction"
    )
    account = deducted.account
    entries = [entry for made in (awarded, again, redeemed, deducted) for entry in made.entries]
    report = statement(account, entries, 0, date(2026, 5, 1), date(2026, 5, 31), NOW, "Spa")
    totals = report.totals
    assert (totals.earned, totals.redeemed, totals.deducted) == (570, 120, 30)
    assert (
        report.closing_balance
        == (
            report.opening_balance
            + totals.earned
            - totals.redeemed
            - totals.deducted
            - totals.expired
            + totals.recovered
            + totals.reversed
        )
        == 420
    )
    # Two awards expiring the same day are one lot: one line of the schedule.
    assert [(e.expiry_date, e.points) for e in report.expiration_schedule.expirations] == [
        (date(2027, 5, 4), 420)
    ]

    rows = list(csv.reader(io.StringIO(statement_csv(report))))
    assert rows[1][3:6] == ["OPENING", "", "0"]
    assert rows[-1][3:6] == ["CLOSING", "", "420"]
    assert [row[7] for row in rows[2:-1]] == ["Welcome", "'=SUM(A1)", "Massage", "Correction"]
