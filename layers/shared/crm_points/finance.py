"""The points liability as finance reports it (docs/finance.md): the monthly roll-forward,
in points and in rand, and the closing of a month. Pure: the aggregates it is computed
from are `analytics_store`'s, kept by the change stream (each entry counted once).

Each month's movements are sums of the entries of that month by type; its closing is the
sum of every balance at its end, from the outstanding (positive balances) and debts
(negative ones) the entries moved. So `opening + movements = closing` is a check of the
ledger, not an identity of the arithmetic.

A closed month is reported as it was when it was closed (its snapshot). Entries of a closed
month counted after its closing (a late stream record, a rebuild's correction) are shown in
the first open month, as `lateEntries`, and included in its movements: the months tie,
and the closed ones never change.
"""

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import Field, PlainSerializer

from crm_points.analytics import (
    MonthTotals,
    months_back,
    next_month,
    previous_month,
    reportable_month,
)
from crm_points.cohorts import Changes
from crm_points.config import PointsConfig
from crm_points.deferred_revenue import (
    BreakageRate,
    Percent,
    Position,
    decimal_text,
    position_at,
)
from crm_points.errors import Conflict, ValidationFailed
from crm_points.records import Actor, CamelModel, UtcDateTime
from crm_points.validation import month_of

# A report covers at most ten years: about 1 KB of JSON a month.
MAX_REPORT_MONTHS = 120


def rand_text(amount: Decimal) -> str:
    """An amount in rand, exactly, with at least the two decimals of cents."""
    exact = amount.normalize()
    if exact.as_tuple().exponent >= -2:  # type: ignore[operator]
        return f"{amount:.2f}"
    return f"{exact:f}"


# Amounts are exact (points times a value per point of up to 4 decimals of a cent), as strings so
# that no JSON reader rounds them; a sum of them is exact too.
Rand = Annotated[
    Decimal,
    PlainSerializer(rand_text, return_type=str),
    Field(description="Rand, exact (at least 2 decimals)", json_schema_extra={"type": "string"}),
]


Figure = TypeVar("Figure", int, Rand)


class Movements(CamelModel, Generic[Figure]):
    """The month's movements, each the sum of its entries of one type (docs/finance.md)."""

    earned: Figure = Field(description="EARN: points earned by completed bookings")
    awarded: Figure = Field(description="AWARD: bonus points (bulk awards included)")
    recovered: Figure = Field(description="RECOVER: expired points brought back")
    reversals_in: Figure = Field(
        description="REVERSAL with positive points: a cancelled booking's redemption given back"
    )
    redeemed: Figure = Field(description="REDEEM: points spent")
    deducted: Figure = Field(description="DEDUCT: points taken off by CRM staff")
    expired: Figure = Field(description="EXPIRE: points that reached their expiry")
    reversals_out: Figure = Field(
        description="REVERSAL with negative points: a cancelled booking's earn taken back"
    )

    @property
    def net(self) -> Figure:
        """What the movements add to the balance: additions less deductions."""
        return (
            self.earned
            + self.awarded
            + self.recovered
            + self.reversals_in
            - self.redeemed
            - self.deducted
            - self.expired
            - self.reversals_out
        )


class Balances(CamelModel, Generic[Figure]):
    """A month's opening and closing, its movements, and the closing split in two."""

    opening: Figure = Field(description="The closing of the month before")
    movements: Movements[Figure]
    closing: Figure = Field(description="The sum of every account's balance at the month's end")
    outstanding: Figure = Field(description="The sum of the positive balances: the liability")
    debts: Figure = Field(description="The sum of the negative balances (0 or less)")


class PointMovements(Movements[int]):
    """The movements in points."""


class RandMovements(Movements[Rand]):
    """The movements in rand."""


class PointBalances(Balances[int]):
    """The month in points."""

    movements: PointMovements


class RandBalances(Balances[Rand]):
    """The month in rand, at the value per point."""

    movements: RandMovements


class RevenueReleased(CamelModel):
    """Revenue released in a month: the value of the points used, and the breakage
    recognised in proportion to them (and the rest of a cohort once it is resolved)."""

    from_redemptions: Rand = Field(
        description="The points used (redeemed, deducted, settling a debt) at the value per point"
    )
    breakage: Rand = Field(description="Breakage recognised with them")
    total: Rand


class RevenueFigures(CamelModel):
    """A month's IFRS 15 figures: the contract liability at its end and what was released
    in it, at the breakage rate in force at its end."""

    breakage_rate_pct: Percent = Field(description="The breakage rate used, in %")
    deferred_revenue: Rand = Field(description="The contract liability at the month's end")
    released: RevenueReleased = Field(description="Revenue released in the month")
    released_to_date: Rand = Field(description="Revenue released by the month's end, in all")
    from_redemptions_to_date: Rand = Field(description="Of which from the points used")


class RollForwardMonth(CamelModel):
    """One month of the roll-forward."""

    month: str = Field(description="YYYY-MM, Africa/Johannesburg")
    status: Literal["OPEN", "CLOSED"]
    closed_at: UtcDateTime | None = None
    closed_by: Actor | None = None
    points: PointBalances
    value_per_point_cents: Decimal = Field(
        description="The value per point the amounts are stated at (a closed month keeps the "
        "one it was closed with)",
        json_schema_extra={"type": "string"},
    )
    amounts: RandBalances = Field(description="The points at the value per point, in rand")
    revaluation: Rand = Field(
        description="The opening restated at this month's value per point, where it differs "
        "from the value the opening was stated at (the last closed month's): opening + "
        "movements + revaluation = closing, in rand"
    )
    late_entries: PointMovements | None = Field(
        default=None,
        description="Entries of closed months counted after they were closed, included in "
        "this month's movements (the first open month only)",
    )
    revenue: RevenueFigures | None = Field(
        default=None,
        description="Deferred revenue and revenue released (docs/finance.md); null for a "
        "month closed before they were kept",
    )


class RollForward(CamelModel):
    """GET /points/finance/roll-forward: one row per month, oldest first."""

    currency: Literal["ZAR"] = "ZAR"
    months: list[RollForwardMonth]


class ClosedPeriod(CamelModel):
    """A month closed by finance: its figures as they were at closing, never changed."""

    month: str
    closed_at: UtcDateTime
    closed_by: Actor
    value_per_point_cents: Decimal = Field(json_schema_extra={"type": "string"})
    opening_value_per_point_cents: Decimal = Field(
        description="The value per point the month's opening was stated at (the month "
        "before's): where it differs, the month has a revaluation",
        json_schema_extra={"type": "string"},
    )
    points: PointBalances
    revenue: RevenueFigures | None = Field(
        default=None, description="As they were at closing (null: closed before they were kept)"
    )


class PeriodList(CamelModel):
    """GET /points/finance/periods: the closed months, oldest first, and the next to close."""

    closed: list[ClosedPeriod]
    next_to_close: str | None = Field(
        description="The month that can be closed next, if it is over; null when none is"
    )


# -- the figures ----------------------------------------------------------------------------


def value_per_point_cents(config: PointsConfig) -> Decimal:
    """The value finance states points at: the standalone value it set, else the
    redemption value (§10 pointValueCents)."""
    if config.standalone_point_value_cents is not None:
        return config.standalone_point_value_cents
    return Decimal(config.point_value_cents)


def movements_of(totals: MonthTotals) -> PointMovements:
    """A month's movements from its aggregates."""
    return PointMovements(
        earned=totals.points_earned,
        awarded=totals.points_awarded,
        recovered=totals.points_recovered,
        reversals_in=totals.reversals_in,
        redeemed=totals.points_redeemed,
        deducted=totals.points_deducted,
        expired=totals.points_expired,
        reversals_out=totals.reversals_out,
    )


def _plus(first: PointMovements, second: PointMovements, sign: int = 1) -> PointMovements:
    """`first` + `second` line by line (`sign` -1: less `second`)."""
    return PointMovements(
        **{
            name: getattr(first, name) + sign * getattr(second, name)
            for name in Movements.model_fields
        }
    )


NO_MOVEMENTS = PointMovements(**dict.fromkeys(Movements.model_fields, 0))


def _in_rand(points: int, cents: Decimal) -> Decimal:
    return Decimal(points) * cents / 100


def _amounts(points: PointBalances, cents: Decimal, opening_cents: Decimal) -> RandBalances:
    def rand(value: int) -> Decimal:
        return _in_rand(value, cents)

    return RandBalances(
        opening=_in_rand(points.opening, opening_cents),
        movements=RandMovements(
            **{name: rand(getattr(points.movements, name)) for name in Movements.model_fields}
        ),
        closing=rand(points.closing),
        outstanding=rand(points.outstanding),
        debts=rand(points.debts),
    )


@dataclass(frozen=True)
class Ledger:
    """What the roll-forward is computed from: every month's aggregates and the closed
    months' snapshots (one Query of the analytics partition)."""

    months: dict[str, MonthTotals]
    periods: dict[str, ClosedPeriod]
    # Each month's changes to the cohorts' lines (crm_points.cohorts).
    cohort_changes: dict[str, Changes] = field(default_factory=dict)

    @property
    def last_closed(self) -> str | None:
        return max(self.periods) if self.periods else None

    def position(self, month: str, config: PointsConfig) -> Position:
        """The cohorts and their release at the end of `month`, as counted now."""
        return position_at(self.cohort_changes, month, config, value_per_point_cents(config))

    def revenue(self, month: str, config: PointsConfig) -> RevenueFigures:
        """`month`'s deferred revenue, and what was released in it: the difference from the
        month before's figures (as closed, for a closed month)."""
        now = self.position(month, config)
        before = self.periods.get(previous_month(month))
        kept = before.revenue if before is not None else None
        if kept is not None:
            released_before, used_before = kept.released_to_date, kept.from_redemptions_to_date
        else:
            earlier = self.position(previous_month(month), config)
            released_before, used_before = earlier.released, earlier.at_redemption
        total = now.released - released_before
        from_redemptions = now.at_redemption - used_before
        return RevenueFigures(
            breakage_rate_pct=now.breakage.rate_pct,
            deferred_revenue=now.deferred,
            released=RevenueReleased(
                from_redemptions=from_redemptions,
                breakage=total - from_redemptions,
                total=total,
            ),
            released_to_date=now.released,
            from_redemptions_to_date=now.at_redemption,
        )

    def live(self, month: str) -> PointBalances:
        """`month`'s figures from the aggregates as they are now."""
        before = sum((totals for key, totals in self.months.items() if key < month), MonthTotals())
        this = self.months.get(month, MonthTotals())
        outstanding = before.liability_change + this.liability_change
        debts = before.debts_change + this.debts_change
        return PointBalances(
            opening=before.liability_change + before.debts_change,
            movements=movements_of(this),
            closing=outstanding + debts,
            outstanding=outstanding,
            debts=debts,
        )

    def late_entries(self) -> PointMovements:
        """The entries of closed months counted since they were closed: every month up to
        the last closed one, as the aggregates have them now, less what the snapshots kept."""
        last = self.last_closed or ""
        live = movements_of(
            sum((t for key, t in self.months.items() if key <= last), MonthTotals())
        )
        for period in self.periods.values():
            live = _plus(live, period.points.movements, -1)
        return live


def _closed_row(period: ClosedPeriod) -> RollForwardMonth:
    cents = period.value_per_point_cents
    amounts = _amounts(period.points, cents, period.opening_value_per_point_cents)
    return RollForwardMonth(
        month=period.month,
        status="CLOSED",
        closed_at=period.closed_at,
        closed_by=period.closed_by,
        points=period.points,
        value_per_point_cents=cents,
        amounts=amounts,
        revaluation=_in_rand(period.points.opening, cents) - amounts.opening,
        revenue=period.revenue,
    )


def month_row(ledger: Ledger, month: str, config: PointsConfig) -> RollForwardMonth:
    """One month of the roll-forward, at the value per point and breakage rate now."""
    cents = value_per_point_cents(config)
    if month in ledger.periods:
        return _closed_row(ledger.periods[month])
    last = ledger.last_closed
    if last is not None and month < last:
        # Before the first closed month, where the books began: nothing was recorded then.
        points = PointBalances(opening=0, movements=NO_MOVEMENTS, closing=0, outstanding=0, debts=0)
        return RollForwardMonth(
            month=month,
            status="CLOSED",
            points=points,
            value_per_point_cents=cents,
            amounts=_amounts(points, cents, cents),
            revaluation=Decimal(0),
        )
    points = ledger.live(month)
    opening_cents = cents
    late = None
    if last is not None and previous_month(month) == last:
        kept = ledger.periods[last]
        late = ledger.late_entries()
        opening_cents = kept.value_per_point_cents
        points = points.model_copy(
            update={
                "opening": kept.points.closing,
                "movements": _plus(points.movements, late),
            }
        )
    amounts = _amounts(points, cents, opening_cents)
    return RollForwardMonth(
        month=month,
        status="OPEN",
        points=points,
        value_per_point_cents=cents,
        amounts=amounts,
        revaluation=_in_rand(points.opening, cents) - amounts.opening,
        late_entries=late,
        revenue=ledger.revenue(month, config),
    )


def _months(first: str, last: str) -> list[str]:
    months = [last]
    while months[-1] > first:
        months.append(previous_month(months[-1]))
    return months[::-1]


def report_range(first: str | None, last: str | None, now: datetime) -> tuple[str, str]:
    """The months a roll-forward covers: `first` to `last`, by default the twelve months to
    the current one. Each must be a month begun by `now`, `first` not after `last`, and at
    most MAX_REPORT_MONTHS of them (422 otherwise)."""
    last = reportable_month(last, now, "to")
    first = months_back(last, 11) if first is None else reportable_month(first, now, "from")
    if first > last:
        raise ValidationFailed(
            "from must not be later than to", {"field": "from", "from": first, "to": last}
        )
    if len(_months(first, last)) > MAX_REPORT_MONTHS:
        raise ValidationFailed(
            f"A report covers at most {MAX_REPORT_MONTHS} months",
            {"field": "from", "from": first, "to": last, "maxMonths": MAX_REPORT_MONTHS},
        )
    return first, last


def roll_forward(ledger: Ledger, first: str, last: str, config: PointsConfig) -> RollForward:
    """The roll-forward of the months `first` to `last` (validated by `report_range`)."""
    return RollForward(months=[month_row(ledger, month, config) for month in _months(first, last)])


_LINES = list(Movements.model_fields)


def roll_forward_csv(report: RollForward) -> str:
    """The roll-forward as CSV: a row per month, the points, then the amounts in rand
    (columns ending `Zar`), then the late entries included in the month, in points."""
    camel = [Movements.model_fields[name].alias or name for name in _LINES]
    points = ["opening", *camel, "closing", "outstanding", "debts"]
    header = [
        "month",
        "status",
        *points,
        "valuePerPointCents",
        *(f"{name}Zar" for name in points),
        "revaluationZar",
        *(f"late{name[0].upper()}{name[1:]}" for name in camel),
        *_REVENUE_COLUMNS,
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in report.months:
        late = row.late_entries
        writer.writerow(
            [
                row.month,
                row.status,
                *_balance_cells(row.points, str),
                str(row.value_per_point_cents),
                *_balance_cells(row.amounts, rand_text),
                rand_text(row.revaluation),
                *(getattr(late, name) if late else 0 for name in _LINES),
                *_revenue_cells(row.revenue),
            ]
        )
    return out.getvalue()


_REVENUE_COLUMNS = [
    "breakageRatePct",
    "deferredRevenueZar",
    "revenueReleasedZar",
    "releasedFromRedemptionsZar",
    "releasedBreakageZar",
]


def _revenue_cells(revenue: RevenueFigures | None) -> list[str]:
    if revenue is None:  # a month closed before they were kept
        return [""] * len(_REVENUE_COLUMNS)
    released = revenue.released
    return [
        decimal_text(revenue.breakage_rate_pct),
        rand_text(revenue.deferred_revenue),
        rand_text(released.total),
        rand_text(released.from_redemptions),
        rand_text(released.breakage),
    ]


def _balance_cells(figures: Balances[Figure], text: Callable[[Figure], str]) -> list[str]:
    values: list[Figure] = [
        figures.opening,
        *(getattr(figures.movements, name) for name in _LINES),
        figures.closing,
        figures.outstanding,
        figures.debts,
    ]
    return [text(value) for value in values]


# -- closing a month ------------------------------------------------------------------------


def next_to_close(ledger: Ledger, now: datetime) -> str | None:
    """The month finance may close next: the one after the last closed (the first with
    entries, before any is closed), once it is over."""
    last = ledger.last_closed
    if last is not None:
        candidate = next_month(last)
    else:
        with_entries = [key for key, totals in ledger.months.items() if not totals.is_empty]
        if not with_entries:
            return None
        candidate = min(with_entries)
    return candidate if candidate < month_of(now) else None


def period_to_close(
    ledger: Ledger, month: str, actor: Actor, now: datetime, config: PointsConfig
) -> ClosedPeriod:
    """The snapshot that closes `month`: its figures now. Months close in order, each once
    it is over (409 CONFLICT otherwise; a malformed or future month is 422)."""
    reportable_month(month, now)
    if month in ledger.periods:
        raise Conflict("This month is closed already", {"month": month})
    expected = next_to_close(ledger, now)
    if month != expected:
        raise Conflict(
            "Months close in order, each once it is over",
            {"month": month, "nextToClose": expected, "lastClosed": ledger.last_closed},
        )
    cents = value_per_point_cents(config)
    row = month_row(ledger, month, config)
    last = ledger.last_closed
    return ClosedPeriod(
        month=month,
        closed_at=now,
        closed_by=actor,
        value_per_point_cents=cents,
        opening_value_per_point_cents=(
            ledger.periods[last].value_per_point_cents if last is not None else cents
        ),
        points=row.points,
        revenue=row.revenue,
    )


def period_list(ledger: Ledger, now: datetime) -> PeriodList:
    """The closed months and the next one to close."""
    return PeriodList(
        closed=[ledger.periods[month] for month in sorted(ledger.periods)],
        next_to_close=next_to_close(ledger, now),
    )


# -- cohorts ----------------------------------------------------------------------------------


class CohortRow(CamelModel):
    """One cohort (the points issued in one month) at the end of the report's month."""

    month: str = Field(description="The issue month, YYYY-MM")
    issued: int = Field(description="Points earned and awarded in the month")
    redeemed: int = Field(description="Redeemed, less redemptions a cancelled booking gave back")
    deducted: int
    expired: int = Field(description="Expired, less points recovered")
    reversed: int = Field(description="Taken back with a cancelled booking's earn")
    settled_debt: int = Field(description="Paid back a negative balance (SPEC §2.8)")
    outstanding: int = Field(description="Still in customers' lots: issued less every other line")
    resolved: bool = Field(description="Nothing outstanding")
    amount: Rand = Field(description="(issued - reversed) at the value per point")
    released: Rand = Field(description="Revenue released by the month's end")
    deferred_revenue: Rand = Field(description="amount - released: the contract liability")


class CohortReport(CamelModel):
    """GET /points/finance/cohorts: every cohort at the end of `asOf`, the breakage rate and
    the month's revenue figures (docs/finance.md)."""

    currency: Literal["ZAR"] = "ZAR"
    as_of: str = Field(description="YYYY-MM, Africa/Johannesburg: figures at its end")
    status: Literal["OPEN", "CLOSED"]
    value_per_point_cents: Decimal = Field(json_schema_extra={"type": "string"})
    breakage: BreakageRate
    cohorts: list[CohortRow] = Field(description="Oldest first")
    revenue: RevenueFigures = Field(
        description="The month's deferred revenue and revenue released, as counted now"
    )
    as_closed: RevenueFigures | None = Field(
        default=None,
        description="A closed month: its figures as they were closed (they differ from "
        "`revenue` only by entries counted since, which the first open month reports)",
    )


def cohort_report(
    ledger: Ledger, as_of: str | None, now: datetime, config: PointsConfig
) -> CohortReport:
    """The cohorts at the end of `as_of` (default: the current month; 422 for a malformed
    month or one not begun)."""
    month = reportable_month(as_of, now, "asOf")
    position = ledger.position(month, config)
    rows = []
    for issued_in, lines in position.lines.items():
        release = position.releases[issued_in]
        rows.append(
            CohortRow(
                month=issued_in,
                issued=lines.issued,
                redeemed=lines.redeemed,
                deducted=lines.deducted,
                expired=lines.expired,
                reversed=lines.reversed,
                settled_debt=lines.settled,
                outstanding=lines.outstanding,
                resolved=lines.outstanding == 0,
                amount=release.amount,
                released=release.released,
                deferred_revenue=release.deferred,
            )
        )
    closed = ledger.periods.get(month)
    last = ledger.last_closed
    return CohortReport(
        as_of=month,
        status="CLOSED" if closed is not None or (last is not None and month < last) else "OPEN",
        value_per_point_cents=value_per_point_cents(config),
        breakage=position.breakage,
        cohorts=rows,
        revenue=ledger.revenue(month, config),
        as_closed=closed.revenue if closed is not None else None,
    )


_COHORT_COLUMNS = list(CohortRow.model_fields)


def cohort_csv(report: CohortReport) -> str:
    """The cohorts as CSV: a row per cohort, amounts in rand, then a total row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        ["asOf", *(CohortRow.model_fields[name].alias or name for name in _COHORT_COLUMNS)]
    )
    for row in report.cohorts:
        values = row.model_dump(mode="json")
        writer.writerow([report.as_of, *(_cell(values[name]) for name in _COHORT_COLUMNS)])
    totals: list[object] = ["total"]
    for name in _COHORT_COLUMNS[1:]:
        if name == "resolved":
            totals.append("")
        else:
            totals.append(_cell(sum(getattr(row, name) for row in report.cohorts)))
    writer.writerow([report.as_of, *totals])
    return out.getvalue()


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return rand_text(value)
    return str(value)
