"""Cohorts, the breakage rate and deferred revenue (IFRS 15), as docs/finance.md defines
them. Pure: computed from each month's changes to the cohorts' lines, which the change
stream counts once per entry (`analytics_store`).

For a month M, every figure is as of M's end: each cohort's lines are the sums of the
changes of the months up to M.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal

from pydantic import Field, PlainSerializer

from crm_points.analytics import months_back
from crm_points.cohorts import Changes, CohortLines, lines_of
from crm_points.config import PointsConfig
from crm_points.records import CamelModel

# The breakage rate is stated, and used, as a percentage of 4 decimals (like every rate
# of the configuration); rand amounts that divide are rounded to the cent.
RATE_STEP = Decimal("0.0001")
CENT = Decimal("0.01")
# The history is evidence only once this many cohorts of the window are resolved: one
# cohort's fate (a month of bonuses that all lapsed, say) is no estimate, and IFRS 15
# recognises breakage early only where a reversal is highly probable not to follow.
MIN_RESOLVED_COHORTS = 3


def decimal_text(value: Decimal) -> str:
    """An exact decimal without trailing zeros: 15, 13.3333, 7.834."""
    return f"{value.normalize():f}"


# Exact decimals, as strings (like every figure of finance's reports).
Percent = Annotated[
    Decimal,
    PlainSerializer(decimal_text, return_type=str),
    Field(description="A percentage, up to 4 decimals", json_schema_extra={"type": "string"}),
]


def lines_at(changes: Mapping[str, Changes], month: str) -> dict[str, CohortLines]:
    """Every cohort's lines at the end of `month`: the changes of the months up to it."""

    def upto() -> Iterator[tuple[str, int]]:
        for counted, lines in changes.items():
            if counted <= month:
                yield from lines.items()

    return lines_of(upto())


class BreakageRate(CamelModel):
    """The breakage rate in force at the end of a month, and the history it comes from."""

    rate_pct: Percent = Field(description="The rate in force: the override, else the history")
    source: Literal["OVERRIDE", "HISTORY", "NO_HISTORY"] = Field(
        description="OVERRIDE: finance's; HISTORY: the resolved cohorts of the window; "
        "NO_HISTORY: fewer than 3 resolved cohorts in it, so 0 (breakage recognised as "
        "points expire)"
    )
    history_pct: Percent | None = Field(
        description="expired / (redeemed + expired) of the resolved cohorts of the window; "
        "null without any"
    )
    window_from: str = Field(description="The first issue month of the window, YYYY-MM")
    window_to: str = Field(description="The last issue month of the window (the month itself)")
    resolved_cohorts: int = Field(
        description="Cohorts of the window with nothing outstanding, some of it redeemed or expired"
    )
    redeemed: int = Field(description="Points the resolved cohorts redeemed (net of returns)")
    expired: int = Field(description="Points of the resolved cohorts that expired (net)")


def breakage_at(lines: Mapping[str, CohortLines], month: str, config: PointsConfig) -> BreakageRate:
    """The breakage rate at the end of `month` (docs/finance.md, "Cohorts and breakage"):
    expired / (redeemed + expired) over the cohorts issued in the trailing window that have
    nothing outstanding, once MIN_RESOLVED_COHORTS of them are; unless finance set an
    override."""
    first = months_back(month, config.breakage_window_months - 1)
    resolved = [
        cohort
        for issued_in, cohort in lines.items()
        if first <= issued_in <= month
        and cohort.outstanding == 0
        # A cohort wholly reversed or deducted says nothing of redemption or lapse.
        and cohort.redeemed + cohort.expired > 0
    ]
    redeemed = sum(cohort.redeemed for cohort in resolved)
    expired = sum(cohort.expired for cohort in resolved)
    history = None
    if redeemed + expired > 0:
        history = (Decimal(expired) * 100 / Decimal(redeemed + expired)).quantize(
            RATE_STEP, ROUND_HALF_UP
        )
    override = config.breakage_rate_override_pct
    source: Literal["OVERRIDE", "HISTORY", "NO_HISTORY"]
    if override is not None:
        rate, source = override, "OVERRIDE"
    elif history is not None and len(resolved) >= MIN_RESOLVED_COHORTS:
        rate, source = history, "HISTORY"
    else:
        rate, source = Decimal(0), "NO_HISTORY"
    return BreakageRate(
        rate_pct=rate,
        source=source,
        history_pct=history,
        window_from=first,
        window_to=month,
        resolved_cohorts=len(resolved),
        redeemed=redeemed,
        expired=expired,
    )


@dataclass(frozen=True)
class Release:
    """A cohort's consideration and what of it is released, in rand."""

    amount: Decimal  # the cohort's points, less those reversed, at the value per point
    released: Decimal  # revenue released to date
    at_redemption: Decimal  # of which the value of the points used

    @property
    def deferred(self) -> Decimal:
        """The contract liability left: the amount not yet released."""
        return self.amount - self.released


def release_of(cohort: CohortLines, rate_pct: Decimal, cents: Decimal) -> Release:
    """What of a cohort's consideration is released (docs/finance.md): A x U / E while
    points are outstanding, all of it once none are; in cents (half up).

    A: the points issued less those reversed (a cancelled booking's), at `cents` a point.
    U: the points used: redeemed, deducted, or settling a debt. E: the points expected to
    be used, (issued - reversed) x (1 - rate), never more than the points not lapsed
    (issued - reversed - expired) and never fewer than U.
    """
    basis = cohort.issued - cohort.reversed
    used = cohort.redeemed + cohort.deducted + cohort.settled
    amount = _cents(Decimal(basis) * cents / 100)
    at_redemption = _cents(Decimal(used) * cents / 100)
    if cohort.outstanding == 0:
        return Release(amount, amount, at_redemption)
    expected = max(
        min(Decimal(basis) * (1 - rate_pct / 100), Decimal(basis - cohort.expired)),
        Decimal(used),
    )
    if expected == 0:
        return Release(amount, Decimal(0), Decimal(0))
    return Release(amount, _cents(amount * used / expected), at_redemption)


def _cents(rand: Decimal) -> Decimal:
    return rand.quantize(CENT, ROUND_HALF_UP)


@dataclass(frozen=True)
class Position:
    """Deferred revenue at the end of a month: every cohort's release, and the rate used."""

    lines: dict[str, CohortLines]
    breakage: BreakageRate
    releases: dict[str, Release]

    @property
    def deferred(self) -> Decimal:
        return sum((release.deferred for release in self.releases.values()), Decimal(0))

    @property
    def released(self) -> Decimal:
        return sum((release.released for release in self.releases.values()), Decimal(0))

    @property
    def at_redemption(self) -> Decimal:
        return sum((release.at_redemption for release in self.releases.values()), Decimal(0))


def position_at(
    changes: Mapping[str, Changes], month: str, config: PointsConfig, cents: Decimal
) -> Position:
    """Every cohort's lines and release at the end of `month`, at the breakage rate in force
    then and `cents` a point."""
    lines = lines_at(changes, month)
    breakage = breakage_at(lines, month, config)
    releases = {
        issued_in: release_of(cohort, breakage.rate_pct, cents)
        for issued_in, cohort in lines.items()
    }
    return Position(lines, breakage, releases)
