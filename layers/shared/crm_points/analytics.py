"""Points analytics (SPEC §9): what one ledger entry changes in the aggregates, and the
month's figures computed from them. Pure: the aggregates live in `analytics_store`.

The aggregates are sums of per-entry deltas, so they can be added up in any order: a stream
that redelivers or reorders records cannot skew them, as long as each entry is counted once
(the store's marker sees to that).

- Outstanding liability (the sum of positive balances) changes by
  `max(balanceAfter, 0) - max(balanceBefore, 0)` per entry, where
  `balanceBefore = balanceAfter - points`; the number of customers with a positive balance
  changes by `(balanceAfter > 0) - (balanceBefore > 0)`. A running total of each is kept for
  "now", and each month's change beside it, so the figure at the end of month M is the
  total now minus the changes of the months after M.
- The sum of negative balances (the customers' debts, SPEC §2.8) changes the same way, by
  `min(balanceAfter, 0) - min(balanceBefore, 0)`; outstanding and debts together move by
  the entry's points.
- Per month (Africa/Johannesburg calendar months of the entry's `createdAt`): points
  redeemed (gross REDEEM points), points expired (EXPIRE), points earned by bookings
  (EARN), bonus points awarded (AWARD), bookings completed (EARN entries, one per booking),
  and bookings that redeemed points (REDEEM entries with a `bookingId`); and for finance's
  roll-forward (docs/finance.md), points recovered (RECOVER), deducted (DEDUCT), and
  reversed in and out (REVERSAL with positive and with negative points);
- and per month, what its entries changed in each cohort's lines (the points issued in one
  month and what became of them, crm_points.cohorts).

The decisions (what counts, rounding, empty denominators) are in docs/api.md, "Analytics".
"""

import re
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import Field, PlainSerializer

from crm_points.cohorts import Changes, changes_of
from crm_points.errors import ValidationFailed
from crm_points.records import CamelModel, LedgerEntry, TransactionType
from crm_points.validation import month_of

# A calendar month, `YYYY-MM`, in the years every date of the product lies in
# (validation.FIRST_DAY to LAST_DAY).
MONTH_PATTERN = r"^(20[0-9]{2}|21[0-9]{2})-(0[1-9]|1[0-2])$"


# -- months ---------------------------------------------------------------------------------


def _parts(month: str, field: str = "month") -> tuple[int, int]:
    if not re.fullmatch(MONTH_PATTERN, month):
        raise ValidationFailed(
            f"{field} must be a calendar month written YYYY-MM, from 2000-01 to 2199-12",
            {"field": field, "value": month},
        )
    year, number = month.split("-")
    return int(year), int(number)


def previous_month(month: str) -> str:
    """The month before `month`."""
    year, number = _parts(month)
    return f"{year - 1:04d}-12" if number == 1 else f"{year:04d}-{number - 1:02d}"


def next_month(month: str) -> str:
    """The month after `month`."""
    year, number = _parts(month)
    return f"{year + 1:04d}-01" if number == 12 else f"{year:04d}-{number + 1:02d}"


def months_back(month: str, count: int) -> str:
    """The month `count` months before `month`."""
    for _ in range(count):
        month = previous_month(month)
    return month


def last_full_month(now: datetime) -> str:
    """The latest month that is over at `now` (what the daily system-alerts run judges)."""
    return previous_month(month_of(now))


def reportable_month(month: str | None, now: datetime, field: str = "month") -> str:
    """The month to report on: `month` (default: the current one). A malformed month or one
    that has not begun yet is refused (422 VALIDATION_ERROR naming `field`)."""
    current = month_of(now)
    if month is None:
        return current
    _parts(month, field)
    if month > current:
        raise ValidationFailed(
            f"{field} must not be later than the current month (Africa/Johannesburg)",
            {"field": field, "value": month, "currentMonth": current},
        )
    return month


# -- the aggregates -------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthTotals:
    """What the entries of one month added up to. Every field is a sum of per-entry deltas."""

    liability_change: int = 0
    active_users_change: int = 0
    points_redeemed: int = 0
    points_expired: int = 0
    points_earned: int = 0
    # A month item counted before this figure existed has no such attribute: it reads as 0.
    points_awarded: int = 0
    bookings_completed: int = 0
    points_influenced_bookings: int = 0
    # The rest of the roll-forward's lines (docs/finance.md), and the debts' change.
    points_recovered: int = 0
    points_deducted: int = 0
    reversals_in: int = 0
    reversals_out: int = 0
    debts_change: int = 0

    def __add__(self, other: "MonthTotals") -> "MonthTotals":
        return MonthTotals(
            **{
                item.name: getattr(self, item.name) + getattr(other, item.name)
                for item in fields(self)
            }
        )

    @property
    def is_empty(self) -> bool:
        """True when every figure is zero: counting it would change nothing."""
        return all(getattr(self, item.name) == 0 for item in fields(self))

    @property
    def running(self) -> "RunningTotals":
        """What these totals move the running totals by: their balance figures."""
        return RunningTotals(self.liability_change, self.active_users_change, self.debts_change)


@dataclass(frozen=True)
class RunningTotals:
    """The balance figures now: every counted entry, whatever its month."""

    outstanding: int = 0
    active_users: int = 0
    # Running totals counted before this figure existed have no such attribute: 0.
    debts: int = 0

    def __add__(self, other: "RunningTotals") -> "RunningTotals":
        return RunningTotals(
            self.outstanding + other.outstanding,
            self.active_users + other.active_users,
            self.debts + other.debts,
        )


@dataclass(frozen=True)
class EntryEffect:
    """One ledger entry's contribution: to its month, to the running totals (which move
    by the month's `liability_change`, `active_users_change` and `debts_change`), and to
    the lines of the cohorts it moved points of (crm_points.cohorts), counted in its month."""

    month: str
    totals: MonthTotals
    cohorts: Changes = field(default_factory=dict)

    @property
    def running(self) -> RunningTotals:
        return self.totals.running

    @property
    def is_empty(self) -> bool:
        """True when counting it would change nothing (an EXPIRY_EXTENDED entry)."""
        return self.totals.is_empty and not self.cohorts


def effect_of(entry: LedgerEntry) -> EntryEffect:
    """What `entry` adds to the aggregates. Additive: the effects of a customer's entries sum
    to the customer's positive balance, debt and presence among active users whatever the
    order."""
    after = entry.balance_after
    points = entry.points
    before = after - points
    kind = entry.type
    reversal = kind is TransactionType.REVERSAL
    return EntryEffect(
        month=month_of(entry.created_at),
        totals=MonthTotals(
            liability_change=max(after, 0) - max(before, 0),
            active_users_change=int(after > 0) - int(before > 0),
            points_redeemed=-points if kind is TransactionType.REDEEM else 0,
            points_expired=-points if kind is TransactionType.EXPIRE else 0,
            points_earned=points if kind is TransactionType.EARN else 0,
            points_awarded=points if kind is TransactionType.AWARD else 0,
            bookings_completed=int(kind is TransactionType.EARN),
            points_influenced_bookings=int(
                kind is TransactionType.REDEEM and entry.booking_id is not None
            ),
            points_recovered=points if kind is TransactionType.RECOVER else 0,
            points_deducted=-points if kind is TransactionType.DEDUCT else 0,
            reversals_in=points if reversal and points > 0 else 0,
            reversals_out=-points if reversal and points < 0 else 0,
            debts_change=min(after, 0) - min(before, 0),
        ),
        cohorts=changes_of(entry),
    )


# -- the figures of §9 ----------------------------------------------------------------------

# Percentages are JSON numbers with one decimal; null where the denominator is 0.
Percent = Annotated[
    Decimal,
    PlainSerializer(lambda value: float(value), return_type=float),
    Field(description="A percentage, rounded to 1 decimal"),
]


class PointsLiability(CamelModel):
    total_outstanding: int = Field(
        description="Sum of positive balances at the end of the month (now, for the current one)"
    )
    monthly_growth: Percent | None = Field(
        description="% change of totalOutstanding against the end of the previous month; "
        "null when that was 0"
    )
    redemption_cost: int = Field(description="Points redeemed (REDEEM) in the month")


class CustomerEngagement(CamelModel):
    active_points_users: int = Field(
        description="Customers with a balance above 0 at the end of the month (now, for the "
        "current one)"
    )
    redemption_rate: Percent | None = Field(
        description="Points redeemed in the month / outstanding at its start, %; null when "
        "nothing was outstanding"
    )
    expiration_rate: Percent | None = Field(
        description="Points expired in the month / outstanding at its start, %; null when "
        "nothing was outstanding"
    )
    average_balance: int | None = Field(
        description="totalOutstanding / activePointsUsers, in whole points; null without "
        "active users"
    )


class ServiceImpact(CamelModel):
    points_influenced_bookings: int = Field(
        description="Bookings that redeemed points in the month (REDEEM entries with a bookingId)"
    )
    average_points_per_booking: int | None = Field(
        description="Points earned by bookings in the month / bookings completed in it, in "
        "whole points; null without bookings"
    )
    conversion_rate: Percent | None = Field(
        description="pointsInfluencedBookings / bookings completed in the month, %; null "
        "without bookings"
    )


class PointsFlow(CamelModel):
    """The points that came in and went out in the month, each kind gross, in points."""

    earned: int = Field(
        description="Points earned by bookings completed in the month (EARN entries); a "
        "booking cancelled later is not taken off"
    )
    awarded: int = Field(
        description="Bonus points awarded in the month (AWARD entries, bulk awards included)"
    )
    redeemed: int = Field(
        description="Points redeemed in the month (REDEEM entries; the same figure as "
        "pointsLiability.redemptionCost); points a cancelled booking hands back are not "
        "taken off"
    )
    expired: int = Field(
        description="Points expired in the month (EXPIRE entries); a later recovery is not "
        "taken off"
    )


class PointsAnalytics(CamelModel):
    """GET /points/analytics: SPEC §9's POINTS_ANALYTICS of one month, and its points flow."""

    month: str = Field(description="YYYY-MM, Africa/Johannesburg")
    points_liability: PointsLiability
    customer_engagement: CustomerEngagement
    service_impact: ServiceImpact
    points_flow: PointsFlow = Field(
        description="Points earned, awarded, redeemed and expired in the month (not in the "
        "seed's shape). Deductions, recoveries and reversals are in none of them"
    )


def percentage(part: int, whole: int) -> Decimal | None:
    """`part / whole` in %, to 1 decimal (half up); None when `whole` is 0."""
    if whole == 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


def average(total: int, count: int) -> int | None:
    """`total / count` in whole points (half up); None when `count` is 0."""
    if count == 0:
        return None
    return int((Decimal(total) / Decimal(count)).quantize(Decimal(1), ROUND_HALF_UP))


def points_analytics(
    month: str, months: dict[str, MonthTotals], running: RunningTotals
) -> PointsAnalytics:
    """The figures of `month` from its totals, the totals of every later month (entries
    counted since), and the running totals now. Months before the previous one are not
    needed; missing months had no entries."""
    after = sum((totals for key, totals in months.items() if key > month), MonthTotals())
    this_month = months.get(month, MonthTotals())
    outstanding_at_end = running.outstanding - after.liability_change
    outstanding_at_start = outstanding_at_end - this_month.liability_change
    active_at_end = running.active_users - after.active_users_change
    bookings = this_month.bookings_completed
    return PointsAnalytics(
        month=month,
        points_liability=PointsLiability(
            total_outstanding=outstanding_at_end,
            monthly_growth=percentage(
                outstanding_at_end - outstanding_at_start, outstanding_at_start
            ),
            redemption_cost=this_month.points_redeemed,
        ),
        customer_engagement=CustomerEngagement(
            active_points_users=active_at_end,
            redemption_rate=percentage(this_month.points_redeemed, outstanding_at_start),
            expiration_rate=percentage(this_month.points_expired, outstanding_at_start),
            average_balance=average(outstanding_at_end, active_at_end),
        ),
        service_impact=ServiceImpact(
            points_influenced_bookings=this_month.points_influenced_bookings,
            average_points_per_booking=average(this_month.points_earned, bookings),
            conversion_rate=percentage(this_month.points_influenced_bookings, bookings),
        ),
        points_flow=PointsFlow(
            earned=this_month.points_earned,
            awarded=this_month.points_awarded,
            redeemed=this_month.points_redeemed,
            expired=this_month.points_expired,
        ),
    )


def month_rates(analytics: PointsAnalytics) -> tuple[Decimal | None, Decimal | None]:
    """The month's (redemptionRate, expirationRate), as the system alerts judge them (§7);
    None where nothing was outstanding at the start of the month."""
    engagement = analytics.customer_engagement
    return engagement.redemption_rate, engagement.expiration_rate
