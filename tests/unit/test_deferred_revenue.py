"""Cohorts, the breakage rate and deferred revenue on a scenario worked out by hand
(docs/finance.md's example: 2,000 points at 7.834 cents, R156.68, 85% expected to be
redeemed), with the history before it and finance's override."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from crm_points.cohorts import change_key
from crm_points.config import PointsConfig
from crm_points.errors import ValidationFailed
from crm_points.finance import (
    NO_MOVEMENTS,
    ClosedPeriod,
    Ledger,
    PointBalances,
    cohort_csv,
    cohort_report,
)
from crm_points.records import Actor

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
VALUE = PointsConfig(standalone_point_value_cents=Decimal("7.834"))
OVERRIDE = VALUE.model_copy(update={"breakage_rate_override_pct": Decimal(15)})


def changes(*lines: tuple[str, str, int]) -> dict[str, int]:
    return {change_key(cohort, line): points for cohort, line, points in lines}


# Each month's changes to the cohorts' lines, as the stream counts them.
HISTORY = {
    "2024-01": changes(("2024-01", "issued", 1_000)),
    # The 2024-01 cohort lapses whole: resolved, but out of the window from 2024-03 on.
    "2025-01": changes(("2024-01", "expired", 1_000), ("2025-01", "issued", 1_000)),
    "2025-02": changes(("2025-02", "issued", 500), ("2025-01", "redeemed", 800)),
    "2025-03": changes(("2025-02", "redeemed", 500), ("2025-03", "issued", 300)),
    "2025-04": changes(("2025-03", "redeemed", 300)),
    # 2025-01 resolves: 800 redeemed, 200 expired. And the example's sale.
    "2026-01": changes(("2025-01", "expired", 200), ("2026-01", "issued", 2_000)),
    "2026-02": changes(("2026-01", "redeemed", 1_000)),
    "2026-03": changes(("2026-01", "redeemed", 700)),
    "2026-04": changes(("2026-01", "expired", 300)),
}
LEDGER = Ledger(months={}, periods={}, cohort_changes=HISTORY)


def test_each_cohort_is_what_its_points_became_by_the_month_s_end():
    report = cohort_report(LEDGER, "2026-02", NOW, VALUE)
    rows = {row.month: row for row in report.cohorts}
    assert list(rows) == ["2024-01", "2025-01", "2025-02", "2025-03", "2026-01"]
    assert (rows["2025-01"].issued, rows["2025-01"].redeemed, rows["2025-01"].expired) == (
        1_000,
        800,
        200,
    )
    assert rows["2025-01"].resolved
    assert (rows["2026-01"].outstanding, rows["2026-01"].resolved) == (1_000, False)
    assert rows["2026-01"].amount == Decimal("156.68")


def test_the_breakage_rate_is_that_of_the_resolved_cohorts_of_the_window():
    breakage = cohort_report(LEDGER, "2026-02", NOW, VALUE).breakage
    # Window 2024-03 to 2026-02: 2025-01 (800 redeemed, 200 expired), 2025-02 (500) and
    # 2025-03 (300 redeemed); 2024-01 is older, 2026-01 unresolved. 200 / 1,800 = 11.1111%.
    assert (breakage.window_from, breakage.window_to) == ("2024-03", "2026-02")
    assert (breakage.resolved_cohorts, breakage.redeemed, breakage.expired) == (3, 1_600, 200)
    assert (breakage.source, breakage.history_pct, breakage.rate_pct) == (
        "HISTORY",
        Decimal("11.1111"),
        Decimal("11.1111"),
    )
    # E = 2,000 x 0.888889 = 1,777.778; released = 156.68 x 1,000 / 1,777.778 = 88.13.
    # The resolved cohorts are released whole: 1,000 + 1,000 + 500 + 300 points, R219.35.
    report = cohort_report(LEDGER, "2026-02", NOW, VALUE)
    assert report.revenue.released_to_date == Decimal("219.35") + Decimal("88.13")
    assert report.revenue.deferred_revenue == Decimal("156.68") - Decimal("88.13")


def test_fewer_than_three_resolved_cohorts_are_no_history_yet():
    # As of 2025-12: 2025-01 and 2025-02 resolved (2025-03 too), 2024-01 in the window;
    # with a window of 11 months, 2025-02 and 2025-03 only: shown, not used.
    config = VALUE.model_copy(update={"breakage_window_months": 11})
    breakage = cohort_report(LEDGER, "2025-12", NOW, config).breakage
    assert (breakage.resolved_cohorts, breakage.history_pct) == (2, Decimal(0))
    assert (breakage.source, breakage.rate_pct) == ("NO_HISTORY", Decimal(0))


def test_a_window_without_resolved_cohorts_has_no_history_and_rate_zero():
    config = VALUE.model_copy(update={"breakage_window_months": 12})
    report = cohort_report(LEDGER, "2026-02", NOW, config)
    assert (report.breakage.source, report.breakage.rate_pct) == ("NO_HISTORY", Decimal(0))
    # Only 2025-03 resolved in the window from 2025-03: its 300 redeemed, none expired.
    assert (report.breakage.resolved_cohorts, report.breakage.history_pct) == (1, Decimal(0))
    # Breakage recognised only as points lapse: 1,000 of 2,000 used releases half.
    assert report.revenue.deferred_revenue == Decimal("78.34")


def test_the_override_gives_the_worked_example_month_by_month():
    # docs/finance.md: released 92.16 then 64.52 then nothing; the liability 64.52, 0, 0.
    expected = {
        # 2025-01 resolves: at 15%, 800 of 850 expected had released 78.34 x 800 / 850 =
        # 73.73; its last 200 points lapse and release the 4.61 left, as breakage.
        "2026-01": ("4.61", "0.00", "4.61", "156.68"),
        "2026-02": ("92.16", "78.34", "13.82", "64.52"),
        "2026-03": ("64.52", "54.84", "9.68", "0.00"),
        "2026-04": ("0.00", "0.00", "0.00", "0.00"),
    }
    for month, (total, redemptions, breakage, deferred) in expected.items():
        report = cohort_report(LEDGER, month, NOW, OVERRIDE)
        assert (report.breakage.source, report.breakage.rate_pct) == ("OVERRIDE", Decimal(15))
        released = report.revenue.released
        assert (released.total, released.from_redemptions, released.breakage) == (
            Decimal(total),
            Decimal(redemptions),
            Decimal(breakage),
        ), month
        assert report.revenue.deferred_revenue == Decimal(deferred), month
    # The override leaves the history shown beside it.
    assert cohort_report(LEDGER, "2026-02", NOW, OVERRIDE).breakage.history_pct == Decimal(
        "11.1111"
    )


def test_a_closed_month_keeps_its_figures_and_the_next_releases_from_them():
    closed_feb = ClosedPeriod(
        month="2026-02",
        closed_at=datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
        closed_by=Actor(user_id="fiona", role="FINANCE"),
        value_per_point_cents=Decimal("7.834"),
        opening_value_per_point_cents=Decimal("7.834"),
        points=PointBalances(opening=0, movements=NO_MOVEMENTS, closing=0, outstanding=0, debts=0),
        revenue=cohort_report(LEDGER, "2026-02", NOW, OVERRIDE).revenue,
    )
    # A redemption of February counted after the close (a late entry).
    late = {**HISTORY, "2026-02": changes(("2026-01", "redeemed", 1_100))}
    ledger = Ledger(months={}, periods={"2026-02": closed_feb}, cohort_changes=late)
    february = cohort_report(ledger, "2026-02", NOW, OVERRIDE)
    assert february.status == "CLOSED"
    assert february.as_closed == closed_feb.revenue
    assert february.as_closed is not None
    assert february.as_closed.released.total == Decimal("92.16")
    # March releases from February as closed: the late 100 points count in March.
    march = cohort_report(ledger, "2026-03", NOW, OVERRIDE).revenue
    # By March's end 1,800 of the 1,700 expected are used: all 156.68 is released.
    assert march.released.total == Decimal("156.68") - Decimal("92.16")
    # From redemptions: 1,800 points at 7.834 cents is R141.012, R141.01 to the cent.
    assert march.released.from_redemptions == Decimal("141.01") - Decimal("78.34")


def test_a_month_not_begun_or_malformed_is_refused_naming_as_of():
    for month in ("2026-13", "2026-07"):
        with pytest.raises(ValidationFailed) as refused:
            cohort_report(LEDGER, month, NOW, VALUE)
        assert refused.value.details["field"] == "asOf"


def test_the_csv_has_a_row_per_cohort_and_a_total():
    text = cohort_csv(cohort_report(LEDGER, "2026-02", NOW, OVERRIDE))
    rows = [line.split(",") for line in text.strip().split("\r\n")]
    assert rows[0][:4] == ["asOf", "month", "issued", "redeemed"]
    assert [row[1] for row in rows[1:]] == [
        "2024-01",
        "2025-01",
        "2025-02",
        "2025-03",
        "2026-01",
        "total",
    ]
    header = rows[0]
    total = dict(zip(header, rows[-1], strict=True))
    assert total["issued"] == "4800"
    assert total["deferredRevenue"] == "64.52"
    assert total["resolved"] == ""


def test_lapsed_points_lower_the_redemptions_expected_and_nothing_goes_below_zero():
    # No breakage expected (no history), 2,000 points: 1,000 used, then 600 lapse. The
    # redemptions expected are at most the 1,400 not lapsed: 156.68 x 1,000 / 1,400 = 111.91.
    lapsing = {
        "2026-01": changes(("2026-01", "issued", 2_000)),
        "2026-02": changes(("2026-01", "redeemed", 1_000)),
        "2026-03": changes(("2026-01", "expired", 600)),
        # Every point left used but one: released to the cent, never above the amount.
        "2026-04": changes(("2026-01", "redeemed", 399)),
    }
    ledger = Ledger(months={}, periods={}, cohort_changes=lapsing)
    assert cohort_report(ledger, "2026-02", NOW, VALUE).revenue.deferred_revenue == Decimal("78.34")
    assert cohort_report(ledger, "2026-03", NOW, VALUE).revenue.deferred_revenue == Decimal("44.77")
    april = cohort_report(ledger, "2026-04", NOW, VALUE)
    (row,) = april.cohorts
    assert row.outstanding == 1
    assert Decimal(0) <= row.deferred_revenue <= Decimal("0.12")
    assert row.amount == row.released + row.deferred_revenue


def test_cohorts_wholly_reversed_or_deducted_are_no_evidence():
    # One cohort lapsed 82%; two others were taken back whole (cancelled, deducted).
    history = {
        "2025-01": changes(("2025-01", "issued", 1_000)),
        "2025-02": changes(("2025-02", "issued", 300)),
        "2025-03": changes(("2025-03", "issued", 200)),
        "2025-06": changes(
            ("2025-01", "redeemed", 180),
            ("2025-01", "expired", 820),
            ("2025-02", "reversed", 300),
            ("2025-03", "deducted", 200),
        ),
    }
    breakage = cohort_report(Ledger({}, {}, history), "2025-06", NOW, VALUE).breakage
    assert (breakage.resolved_cohorts, breakage.history_pct) == (1, Decimal(82))
    assert (breakage.source, breakage.rate_pct) == ("NO_HISTORY", Decimal(0))
