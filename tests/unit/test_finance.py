"""Finance's roll-forward and closed months (docs/finance.md), from the aggregates of
tests/unit/test_analytics.py's scenario, with the figures worked out by hand below."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from crm_points.analytics import MonthTotals, effect_of
from crm_points.config import PointsConfig
from crm_points.errors import Conflict, ValidationFailed
from crm_points.finance import (
    Ledger,
    RollForward,
    RollForwardMonth,
    next_to_close,
    period_list,
    period_to_close,
    rand_text,
    report_range,
    roll_forward,
    roll_forward_csv,
)
from crm_points.records import Actor, LedgerEntry
from tests.unit.test_analytics import SCENARIO, E, entry

FINANCE = Actor(user_id="fin-1", role="FINANCE")
JUNE_1 = datetime(2026, 6, 1, 8, tzinfo=UTC)
DEFAULT = PointsConfig()  # pointValueCents 1: a point is worth 1 cent

# May: b6's redemption of 237 is given back (the booking was cancelled), and A redeems 100.
MAY = [
    entry("A", E.REVERSAL, 237, 1_000, "2026-05-02T08:00:00+00:00", "b6"),
    entry("A", E.REDEEM, -100, 900, "2026-05-03T08:00:00+00:00", "b9"),
]

# Worked out by hand (balances at each month's end in tests/unit/test_analytics.py):
# March: opening 0; earned 500 + 300; awarded 1,000 + 200 + 50; redeemed 400 + 300;
#   deducted 100; expired 200; reversals out 300 (b2): 2,050 - 1,300 = 750 = A 1,000 +
#   B -300 + C 0 + F 50: outstanding 1,050, debts -300.
# April: earned 500 + 167 + 100; awarded 333; recovered 50; redeemed 237; expired 50:
#   750 + 1,150 - 287 = 1,613, every balance positive.
# May: reversals in 237, redeemed 100: 1,613 + 137 = 1,750.
MOVEMENTS = {
    "2026-03": {
        "earned": 800,
        "awarded": 1_250,
        "recovered": 0,
        "reversalsIn": 0,
        "redeemed": 700,
        "deducted": 100,
        "expired": 200,
        "reversalsOut": 300,
    },
    "2026-04": {
        "earned": 767,
        "awarded": 333,
        "recovered": 50,
        "reversalsIn": 0,
        "redeemed": 237,
        "deducted": 0,
        "expired": 50,
        "reversalsOut": 0,
    },
    "2026-05": {
        "earned": 0,
        "awarded": 0,
        "recovered": 0,
        "reversalsIn": 237,
        "redeemed": 100,
        "deducted": 0,
        "expired": 0,
        "reversalsOut": 0,
    },
}
ENDS = {  # opening, closing, outstanding, debts
    "2026-03": (0, 750, 1_050, -300),
    "2026-04": (750, 1_613, 1_613, 0),
    "2026-05": (1_613, 1_750, 1_750, 0),
}


def months_of(entries: list[LedgerEntry]) -> dict[str, MonthTotals]:
    """What the stream keeps: each month's totals."""
    months: dict[str, MonthTotals] = {}
    for item in entries:
        effect = effect_of(item)
        months[effect.month] = months.get(effect.month, MonthTotals()) + effect.totals
    return months


def report(
    ledger: Ledger, first: str = "2026-03", last: str = "2026-05", config: PointsConfig = DEFAULT
) -> dict[str, RollForwardMonth]:
    found = roll_forward(ledger, first, last, config)
    assert_ties(found)
    return {row.month: row for row in found.months}


def assert_ties(found: RollForward) -> None:
    """Every month: opening + movements = closing = outstanding + debts, in points and in
    rand (with the revaluation); each opening is the closing before it."""
    for row in found.months:
        for figures, extra in ((row.points, 0), (row.amounts, row.revaluation)):
            assert figures.opening + figures.movements.net + extra == figures.closing, row
            assert figures.outstanding + figures.debts == figures.closing, row
    for before, after in zip(found.months, found.months[1:], strict=False):
        assert after.points.opening == before.points.closing
        assert after.amounts.opening == before.amounts.closing


def test_each_month_is_its_entries_by_type_and_ties_to_the_balances():
    rows = report(Ledger(months_of(SCENARIO + MAY), {}))
    for month, movements in MOVEMENTS.items():
        row = rows[month]
        assert row.status == "OPEN"
        assert row.points.movements.model_dump(by_alias=True) == movements
        opening, closing, outstanding, debts = ENDS[month]
        assert (row.points.opening, row.points.closing) == (opening, closing)
        assert (row.points.outstanding, row.points.debts) == (outstanding, debts)
        assert row.late_entries is None
        assert row.revaluation == 0


def test_amounts_are_the_points_at_the_value_per_point_exactly():
    ledger = Ledger(months_of(SCENARIO + MAY), {})
    march = report(ledger)["2026-03"]
    assert march.value_per_point_cents == 1
    assert march.amounts.closing == Decimal("7.50")
    assert march.model_dump(mode="json", by_alias=True)["amounts"]["debts"] == "-3.00"
    # IFRS 15's allocated value of the worked example: R156.68 for 2,000 points.
    allocated = PointsConfig(standalone_point_value_cents=Decimal("7.834"))
    march = report(ledger, config=allocated)["2026-03"]
    assert march.amounts.closing == Decimal("58.755")  # 750 x 7.834 cents
    assert march.model_dump(mode="json", by_alias=True)["amounts"]["closing"] == "58.755"


@pytest.mark.parametrize(
    ("amount", "text"),
    [("0", "0.00"), ("7.5", "7.50"), ("100", "100.00"), ("58.755", "58.755"), ("-3", "-3.00")],
)
def test_rand_is_exact_with_at_least_the_cents(amount, text):
    assert rand_text(Decimal(amount)) == text


def test_a_closed_month_keeps_its_figures_and_late_entries_count_in_the_first_open_one():
    counted = SCENARIO + MAY
    ledger = Ledger(months_of(counted), {})
    march = period_to_close(ledger, "2026-03", FINANCE, JUNE_1, DEFAULT)
    assert march.points.closing == 750
    assert (march.closed_by, march.closed_at) == (FINANCE, JUNE_1)

    # A deduction of 40 made on 31 March is counted after March was closed.
    late = entry("A", E.DEDUCT, -40, 960, "2026-03-31T20:00:00+00:00")
    # (The balances after it in April and May would be 40 lower: only the sums matter here.)
    ledger = Ledger(months_of([*counted, late]), {"2026-03": march})
    rows = report(ledger)
    assert rows["2026-03"].status == "CLOSED"
    assert rows["2026-03"].points == march.points
    assert rows["2026-03"].closed_by == FINANCE
    april = rows["2026-04"]
    assert april.late_entries is not None
    assert april.late_entries.deducted == 40
    assert april.points.movements.deducted == 40
    assert april.points.opening == 750
    assert april.points.closing == 1_613 - 40
    assert rows["2026-05"].late_entries is None


def test_the_opening_is_revalued_when_the_value_per_point_changed_since_the_last_close():
    ledger = Ledger(months_of(SCENARIO + MAY), {})
    march = period_to_close(ledger, "2026-03", FINANCE, JUNE_1, DEFAULT)
    doubled = PointsConfig(point_value_cents=2)
    rows = report(Ledger(ledger.months, {"2026-03": march}), config=doubled)
    assert rows["2026-03"].amounts.closing == Decimal("7.50")  # as closed, at 1 cent
    april = rows["2026-04"]
    assert april.amounts.opening == Decimal("7.50")
    assert april.revaluation == Decimal("7.50")  # 750 points x (2 - 1) cents
    assert april.amounts.closing == Decimal("32.26")  # 1,613 x 2 cents
    assert rows["2026-05"].revaluation == 0

    # April closed at the new value keeps its revaluation, and the months still tie.
    closed = Ledger(ledger.months, {"2026-03": march})
    april_closed = period_to_close(closed, "2026-04", FINANCE, JUNE_1, doubled)
    assert april_closed.opening_value_per_point_cents == 1
    rows = report(Ledger(ledger.months, {"2026-03": march, "2026-04": april_closed}))
    assert rows["2026-04"].revaluation == Decimal("7.50")
    assert rows["2026-04"].amounts == april.amounts
    # May, open at 1 cent again: restated down from April's 2 cents.
    assert rows["2026-05"].revaluation == Decimal("-16.13")


def test_months_close_in_order_once_over_and_once():
    ledger = Ledger(months_of(SCENARIO + MAY), {})
    # The first month with entries is the first to close.
    assert next_to_close(ledger, JUNE_1) == "2026-03"
    with pytest.raises(Conflict) as refused:
        period_to_close(ledger, "2026-04", FINANCE, JUNE_1, DEFAULT)
    assert refused.value.details["nextToClose"] == "2026-03"
    march = period_to_close(ledger, "2026-03", FINANCE, JUNE_1, DEFAULT)
    closed = Ledger(ledger.months, {"2026-03": march})
    with pytest.raises(Conflict):
        period_to_close(closed, "2026-03", FINANCE, JUNE_1, DEFAULT)
    assert next_to_close(closed, JUNE_1) == "2026-04"
    # A month is closed once it is over: on 1 June, May is; June is not.
    april = period_to_close(closed, "2026-04", FINANCE, JUNE_1, DEFAULT)
    may = period_to_close(
        Ledger(ledger.months, {"2026-03": march, "2026-04": april}),
        "2026-05",
        FINANCE,
        JUNE_1,
        DEFAULT,
    )
    done = Ledger(ledger.months, {"2026-03": march, "2026-04": april, "2026-05": may})
    assert next_to_close(done, JUNE_1) is None
    with pytest.raises(Conflict):
        period_to_close(done, "2026-06", FINANCE, JUNE_1, DEFAULT)
    with pytest.raises(ValidationFailed):
        period_to_close(done, "2026-07", FINANCE, JUNE_1, DEFAULT)
    listed = period_list(done, JUNE_1)
    assert [period.month for period in listed.closed] == ["2026-03", "2026-04", "2026-05"]
    # Months before the first closed one are where the books had not begun: empty, closed.
    rows = report(done, first="2026-01")
    assert rows["2026-02"].status == "CLOSED"
    assert rows["2026-02"].points.closing == 0


def test_an_empty_ledger_has_nothing_to_close():
    assert next_to_close(Ledger({}, {}), JUNE_1) is None


def test_the_range_defaults_to_twelve_months_and_refuses_bad_months():
    assert report_range(None, None, JUNE_1) == ("2025-07", "2026-06")
    assert report_range("2026-01", "2026-03", JUNE_1) == ("2026-01", "2026-03")
    assert report_range(None, "2026-03", JUNE_1) == ("2025-04", "2026-03")
    for first, last in [("2026-13", None), (None, "2026-07"), ("2026-04", "2026-03")]:
        with pytest.raises(ValidationFailed):
            report_range(first, last, JUNE_1)
    with pytest.raises(ValidationFailed) as too_long:
        report_range("2016-05", "2026-06", JUNE_1)
    assert too_long.value.details["maxMonths"] == 120
    assert report_range("2016-07", "2026-06", JUNE_1) == ("2016-07", "2026-06")


def test_the_csv_has_a_row_per_month_with_points_amounts_and_late_entries():
    found = roll_forward(Ledger(months_of(SCENARIO + MAY), {}), "2026-03", "2026-05", DEFAULT)
    rows = list(csv.DictReader(io.StringIO(roll_forward_csv(found))))
    assert [row["month"] for row in rows] == ["2026-03", "2026-04", "2026-05"]
    march = rows[0]
    assert march["status"] == "OPEN"
    assert {name: int(march[name]) for name in MOVEMENTS["2026-03"]} == MOVEMENTS["2026-03"]
    assert (march["opening"], march["closing"], march["debts"]) == ("0", "750", "-300")
    assert (march["closingZar"], march["reversalsOutZar"]) == ("7.50", "3.00")
    assert (march["valuePerPointCents"], march["revaluationZar"]) == ("1", "0.00")
    assert march["lateDeducted"] == "0"
