"""SPEC §9: what each ledger entry adds to the aggregates, and the month's figures, checked
against a scenario whose figures are worked out by hand below."""

import itertools
import json
import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from crm_points.analytics import (
    MonthTotals,
    RunningTotals,
    average,
    effect_of,
    last_full_month,
    month_rates,
    percentage,
    points_analytics,
    previous_month,
    reportable_month,
)
from crm_points.errors import ValidationFailed
from crm_points.records import SYSTEM, LedgerEntry, TransactionType
from crm_points.validation import month_of

_sequence = itertools.count(1)


def entry(
    customer: str,
    kind: TransactionType,
    points: int,
    balance_after: int,
    at: str,
    booking_id: str | None = None,
) -> LedgerEntry:
    number = next(_sequence)
    return LedgerEntry(
        transaction_id=f"tx-{number:04d}",
        customer_id=customer,
        sequence=number,
        type=kind,
        points=points,
        balance_after=balance_after,
        description="scenario",
        reason="scenario",
        actor=SYSTEM,
        created_at=datetime.fromisoformat(at),
        request_id=f"req-{number}",
        booking_id=booking_id,
    )


E = TransactionType

# The scenario, in the order it happened. Months are Africa/Johannesburg (UTC+2).
MARCH = [
    entry("A", E.AWARD, 1_000, 1_000, "2026-03-02T08:00:00+00:00"),
    entry("A", E.EARN, 500, 1_500, "2026-03-03T08:00:00+00:00", "b1"),
    entry("B", E.EARN, 300, 300, "2026-03-04T08:00:00+00:00", "b2"),
    entry("A", E.REDEEM, -400, 1_100, "2026-03-05T08:00:00+00:00", "b3"),
    entry("B", E.REDEEM, -300, 0, "2026-03-06T08:00:00+00:00"),  # by hand: no booking
    entry("C", E.AWARD, 200, 200, "2026-03-07T08:00:00+00:00"),
    entry("F", E.AWARD, 50, 50, "2026-03-08T08:00:00+00:00"),
    # b2 is cancelled: its 300 earned points were spent, so B owes 300.
    entry("B", E.REVERSAL, -300, -300, "2026-03-09T08:00:00+00:00", "b2"),
    # 23:59:59 in Johannesburg: still March.
    entry("C", E.EXPIRE, -200, 0, "2026-03-31T21:59:59+00:00"),
    entry("A", E.DEDUCT, -100, 1_000, "2026-03-20T08:00:00+00:00"),
]
APRIL = [
    # 00:30 on 1 April in Johannesburg. The booking first settles B's debt of 300.
    entry("B", E.EARN, 500, 200, "2026-03-31T22:30:00+00:00", "b5"),
    entry("A", E.REDEEM, -237, 763, "2026-04-02T08:00:00+00:00", "b6"),
    entry("F", E.EXPIRE, -50, 0, "2026-04-10T09:00:00+00:00"),
    entry("C", E.AWARD, 333, 333, "2026-04-11T08:00:00+00:00"),
    entry("D", E.EARN, 167, 167, "2026-04-12T08:00:00+00:00", "b7"),
    entry("E", E.EARN, 100, 100, "2026-04-13T08:00:00+00:00", "b8"),
    entry("A", E.EXPIRY_EXTENDED, 0, 763, "2026-04-14T08:00:00+00:00"),
    entry("F", E.RECOVER, 50, 50, "2026-04-15T08:00:00+00:00"),
]
SCENARIO = MARCH + APRIL

# Worked out by hand from the entries above.
#
# March: liability 1000 + 500 + 300 - 400 - 300 + 200 + 50 + 0 (B goes from 0 to -300)
#   - 200 - 100 = 1,050 (balances A 1,000, B -300, C 0, F 50); active users A, F = 2;
#   redeemed 400 + 300 = 700 (the DEDUCT is a correction, not a redemption); expired 200;
#   earned by bookings 500 + 300 = 800 over 2 bookings; 1 booking redeemed (b3).
#   Nothing was outstanding before March: the rates and the growth are null.
#   Flow: earned 800; awarded 1,000 + 200 + 50 = 1,250; redeemed 700; expired 200 (the
#   REVERSAL of b2 and the DEDUCT are in none of them).
MARCH_FIGURES = {
    "month": "2026-03",
    "pointsLiability": {"totalOutstanding": 1050, "monthlyGrowth": None, "redemptionCost": 700},
    "customerEngagement": {
        "activePointsUsers": 2,
        "redemptionRate": None,
        "expirationRate": None,
        "averageBalance": 525,
    },
    "serviceImpact": {
        "pointsInfluencedBookings": 1,
        "averagePointsPerBooking": 400,
        "conversionRate": 50.0,
    },
    "pointsFlow": {"earned": 800, "awarded": 1250, "redeemed": 700, "expired": 200},
}
# April: liability +200 (B: -300 -> 200, only 200 of it positive) - 237 - 50 + 333 + 167
#   + 100 + 0 + 50 = +563, so 1,613 at the end (A 763, B 200, C 333, D 167, E 100, F 50);
#   active users 2 + B + C + D + E - F + F = 6; growth 563 / 1,050 = 53.619 -> 53.6 %;
#   redeemed 237: 237 / 1,050 = 22.571 -> 22.6 %; expired 50: 50 / 1,050 = 4.762 -> 4.8 %;
#   average balance 1,613 / 6 = 268.8 -> 269; bookings b5, b7, b8 earned 767: 255.7 -> 256
#   per booking; 1 of 3 redeemed points (b6): 33.3 %.
#   Flow: earned 500 + 167 + 100 = 767; awarded 333; redeemed 237; expired 50 (F's RECOVER
#   of those 50 is not taken off, nor counted as earned or awarded).
APRIL_FIGURES = {
    "month": "2026-04",
    "pointsLiability": {"totalOutstanding": 1613, "monthlyGrowth": 53.6, "redemptionCost": 237},
    "customerEngagement": {
        "activePointsUsers": 6,
        "redemptionRate": 22.6,
        "expirationRate": 4.8,
        "averageBalance": 269,
    },
    "serviceImpact": {
        "pointsInfluencedBookings": 1,
        "averagePointsPerBooking": 256,
        "conversionRate": 33.3,
    },
    "pointsFlow": {"earned": 767, "awarded": 333, "redeemed": 237, "expired": 50},
}


def aggregate(entries: list[LedgerEntry]) -> tuple[dict[str, MonthTotals], RunningTotals]:
    """What the store keeps: each month's totals and the running totals."""
    months: dict[str, MonthTotals] = {}
    running = RunningTotals()
    for item in entries:
        effect = effect_of(item)
        months[effect.month] = months.get(effect.month, MonthTotals()) + effect.totals
        running += effect.running
    return months, running


def as_json(month: str, entries: list[LedgerEntry]) -> object:
    months, running = aggregate(entries)
    return json.loads(points_analytics(month, months, running).model_dump_json(by_alias=True))


def test_the_scenario_balances_are_running_sums():
    balances: dict[str, int] = {}
    for item in SCENARIO:
        balances[item.customer_id] = balances.get(item.customer_id, 0) + item.points
        assert item.balance_after == balances[item.customer_id], item


def test_each_entry_changes_what_it_should():
    b_earn, b_redeem, b_reversal, b_settling = SCENARIO[2], SCENARIO[4], SCENARIO[7], APRIL[0]
    assert effect_of(b_earn).totals == MonthTotals(
        liability_change=300,
        active_users_change=1,
        points_earned=300,
        bookings_completed=1,
    )
    # The redemption by hand has no booking: not a points-influenced booking.
    assert effect_of(b_redeem).totals == MonthTotals(
        liability_change=-300, active_users_change=-1, points_redeemed=300
    )
    # From 0 to -300: no positive balance changes, and B was not active before either; the
    # earn taken back is a debt.
    assert effect_of(b_reversal).totals == MonthTotals(reversals_out=300, debts_change=-300)
    # From -300 to 200: only the part above zero is liability; the debt is settled.
    assert effect_of(b_settling).totals == MonthTotals(
        liability_change=200,
        active_users_change=1,
        points_earned=500,
        bookings_completed=1,
        debts_change=300,
    )
    assert effect_of(b_settling).month == "2026-04"
    assert effect_of(SCENARIO[8]).month == "2026-03"
    assert effect_of(APRIL[1]).totals.points_influenced_bookings == 1
    assert effect_of(APRIL[6]).totals.is_empty  # EXPIRY_EXTENDED


def test_each_kind_of_entry_moves_its_own_flow_and_corrections_move_none():
    a_award, a_earn, a_redeem, c_expire, a_deduct = (SCENARIO[i] for i in (0, 1, 3, 8, 9))
    flows = ("points_earned", "points_awarded", "points_redeemed", "points_expired")

    def flow(item: LedgerEntry) -> tuple[int, ...]:
        return tuple(getattr(effect_of(item).totals, name) for name in flows)

    assert flow(a_award) == (0, 1_000, 0, 0)
    assert flow(a_earn) == (500, 0, 0, 0)
    assert flow(a_redeem) == (0, 0, 400, 0)  # positive: points that went out
    assert flow(c_expire) == (0, 0, 0, 200)
    # A correction, an undone booking and a recovery change the liability, not the flow.
    a_reversal = entry("A", E.REVERSAL, -500, 500, "2026-03-10T08:00:00+00:00", "b1")
    f_recover = APRIL[7]
    for correction in (a_deduct, a_reversal, f_recover):
        assert flow(correction) == (0, 0, 0, 0), correction.type
        assert effect_of(correction).totals.liability_change != 0, correction.type


def test_the_months_figures_match_the_hand_computed_ones():
    assert as_json("2026-03", MARCH) == MARCH_FIGURES
    assert as_json("2026-04", SCENARIO) == APRIL_FIGURES


def test_a_past_month_is_as_at_its_end():
    # March seen after April happened: its outstanding and users are those of 31 March.
    assert as_json("2026-03", SCENARIO) == MARCH_FIGURES


def test_the_order_of_counting_does_not_matter():
    shuffled = random.Random(7)
    for _ in range(20):
        entries = list(SCENARIO)
        shuffled.shuffle(entries)
        assert as_json("2026-04", entries) == APRIL_FIGURES
        assert as_json("2026-03", entries) == MARCH_FIGURES


NO_FLOW = {"earned": 0, "awarded": 0, "redeemed": 0, "expired": 0}


def test_a_month_without_entries_after_active_months():
    # May: nothing happened. The liability stays, growth is 0 %, nothing redeemed or
    # expired, and without bookings the booking figures are null.
    assert as_json("2026-05", SCENARIO) == {
        "month": "2026-05",
        "pointsLiability": {"totalOutstanding": 1613, "monthlyGrowth": 0.0, "redemptionCost": 0},
        "customerEngagement": {
            "activePointsUsers": 6,
            "redemptionRate": 0.0,
            "expirationRate": 0.0,
            "averageBalance": 269,
        },
        "serviceImpact": {
            "pointsInfluencedBookings": 0,
            "averagePointsPerBooking": None,
            "conversionRate": None,
        },
        "pointsFlow": NO_FLOW,
    }


def test_an_empty_ledger_has_zeros_and_nulls():
    assert as_json("2026-03", []) == {
        "month": "2026-03",
        "pointsLiability": {"totalOutstanding": 0, "monthlyGrowth": None, "redemptionCost": 0},
        "customerEngagement": {
            "activePointsUsers": 0,
            "redemptionRate": None,
            "expirationRate": None,
            "averageBalance": None,
        },
        "serviceImpact": {
            "pointsInfluencedBookings": 0,
            "averagePointsPerBooking": None,
            "conversionRate": None,
        },
        "pointsFlow": NO_FLOW,
    }


def test_entries_dated_after_the_month_are_left_out_of_it():
    # A booking system clock ahead of ours can date an entry in a month not yet begun.
    ahead = entry("G", E.EARN, 1_000, 1_000, "2026-05-03T08:00:00+00:00", "b9")
    assert as_json("2026-04", [*SCENARIO, ahead]) == APRIL_FIGURES


def test_percentages_round_half_up_to_one_decimal():
    assert percentage(1, 8) == Decimal("12.5")
    assert percentage(1, 3) == Decimal("33.3")
    assert percentage(2, 3) == Decimal("66.7")
    assert percentage(1, 16) == Decimal("6.3")  # 6.25
    assert percentage(-1, 16) == Decimal("-6.3")
    assert percentage(5, 0) is None
    assert average(5, 2) == 3
    assert average(7, 0) is None


def test_month_rates_are_the_months_redemption_and_expiration_rates():
    months, running = aggregate(SCENARIO)
    assert month_rates(points_analytics("2026-04", months, running)) == (
        Decimal("22.6"),
        Decimal("4.8"),
    )


def test_months_are_calendar_months_in_johannesburg():
    assert month_of(datetime(2026, 3, 31, 21, 59, 59, tzinfo=UTC)) == "2026-03"
    assert month_of(datetime(2026, 3, 31, 22, 0, tzinfo=UTC)) == "2026-04"
    assert previous_month("2026-01") == "2025-12"
    assert previous_month("2026-10") == "2026-09"
    assert last_full_month(datetime(2026, 1, 1, 4, 0, tzinfo=UTC)) == "2025-12"
    # 31 December 23:00 UTC is already 1 January in Johannesburg.
    assert last_full_month(datetime(2025, 12, 31, 23, 0, tzinfo=UTC)) == "2025-12"


def test_the_month_to_report_on():
    now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    assert reportable_month(None, now) == "2026-11"
    assert reportable_month("2026-11", now) == "2026-11"
    assert reportable_month("2000-01", now) == "2000-01"
    with pytest.raises(ValidationFailed) as future:
        reportable_month("2026-12", now)
    assert future.value.details["field"] == "month"
    for malformed in ("2026-13", "2026-1", "26-01", "1999-12", "2200-01", "2026-00", "2026-01-01"):
        with pytest.raises(ValidationFailed):
            reportable_month(malformed, now)
