"""Points by the month they were issued in: the cohort arithmetic (docs/finance.md,
"Cohorts and breakage") that the ledger, the analytics and the reconciliation share.

A cohort is the points issued (EARN, AWARD) in one calendar month. A lot holds the points
of one expiry day, whatever month they were issued in, so it keeps them by issue month
(`Lot.issue_months`); a debit takes a lot's oldest issue month first, and names the months
it took in its allocations; a credit that gives points back (RECOVER, a REVERSAL returning
a redemption) names the months they were issued in. The points of a credit that settle a
debt (SPEC §2.8) are its oldest ones.

Each entry then changes each cohort's figures by known amounts (`changes_of`): the
cohort's lines are sums of them, as every other figure of the analytics.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

from crm_points.records import Allocation, LedgerEntry, TransactionType
from crm_points.validation import month_of

# Points by issue month (`YYYY-MM`).
Months = dict[str, int]


def total(months: Mapping[str, int]) -> int:
    """The points of `months`."""
    return sum(months.values())


def joined(*parts: Mapping[str, int]) -> dict[str, int]:
    """Points (or changes) summed key by key; keys left at 0 are dropped."""
    together: Months = {}
    for part in parts:
        for month, points in part.items():
            together[month] = together.get(month, 0) + points
    return {month: points for month, points in sorted(together.items()) if points}


def take(months: Months, points: int, first: str | None = None) -> Months:
    """Take `points` out of `months` (changed in place), the month `first` first, then the
    oldest; what was taken, by month. `months` must hold them."""
    order = sorted(months, key=lambda month: (month != first, month))
    taken: Months = {}
    wanted = points
    for month in order:
        if wanted == 0:
            break
        part = min(wanted, months[month])
        months[month] -= part
        wanted -= part
        taken[month] = part
    if wanted:
        raise ValueError(f"{points} points asked of months holding {points - wanted}")
    for month in [month for month, left in months.items() if left == 0]:
        del months[month]
    return {month: part for month, part in sorted(taken.items()) if part}


def settled_and_kept(months: Mapping[str, int], settled: int) -> tuple[Months, Months]:
    """A credit's points by month, split into those that settle a debt (the oldest) and
    those that join its lot."""
    kept = dict(months)
    return take(kept, settled), joined(kept)


def credit_months(entry: LedgerEntry) -> Months:
    """A credit's points by issue month. Entries written before the months were recorded
    have none: an EARN's or AWARD's are its own month's, a returned credit's the month its
    lot was made (docs/operations.md, "Healing the analytics")."""
    if entry.issue_months:
        return dict(entry.issue_months)
    own = month_of(entry.created_at)
    if entry.type in (TransactionType.EARN, TransactionType.AWARD):
        return {own: entry.points}
    return {made_month(entry.point_batch_id, own): entry.points}


def allocation_months(allocation: Allocation, fallback: str) -> Months:
    """Points taken from one lot, by issue month; for an allocation recorded before the
    months were, the month its lot was made (`fallback` if that cannot be told)."""
    if allocation.issue_months:
        return dict(allocation.issue_months)
    return {made_month(allocation.point_batch_id, fallback): allocation.points}


def names_its_months(entry: LedgerEntry) -> bool:
    """False for an entry written before the months were recorded: a credit without them,
    or a debit's allocation or a merge without them."""
    if entry.points > 0 and entry.issue_months is None:
        return False
    allocations = all(part.issue_months or part.points == 0 for part in entry.allocations)
    return allocations and all(part.issue_months or part.points == 0 for part in entry.merged_lots)


def made_month(point_batch_id: str | None, fallback: str) -> str:
    """The month a lot was made, read from its id (a ULID holds its moment); `fallback`
    for an id that is not a ULID."""
    from ulid import ULID

    try:
        return month_of(ULID.from_str(point_batch_id or "").datetime)
    except ValueError:
        return fallback


@dataclass(frozen=True)
class CohortLines:
    """What became of one cohort's points: each a sum of per-entry changes.

    issued = redeemed + deducted + expired + reversed + settled + outstanding. A recovery
    takes points off `expired`, a cancelled booking's returned redemption off `redeemed`:
    the lines are net, and say where the cohort's points are now.
    """

    issued: int = 0
    redeemed: int = 0
    deducted: int = 0
    expired: int = 0
    reversed: int = 0
    settled: int = 0

    @property
    def outstanding(self) -> int:
        """The cohort's points still in customers' lots."""
        return (
            self.issued
            - self.redeemed
            - self.deducted
            - self.expired
            - self.reversed
            - self.settled
        )

    def __add__(self, other: "CohortLines") -> "CohortLines":
        return CohortLines(
            **{
                item.name: getattr(self, item.name) + getattr(other, item.name)
                for item in fields(self)
            }
        )


LINES = tuple(item.name for item in fields(CohortLines))

# One entry's (or many entries') changes to the cohorts' lines, keyed `{YYYY-MM}#{line}`:
# the attribute names of the stored aggregates.
Changes = dict[str, int]


def change_key(month: str, line: str) -> str:
    """The key of one cohort's line."""
    return f"{month}#{line}"


def _changes(line: str, months: Mapping[str, int], sign: int = 1) -> Changes:
    return {change_key(month, line): sign * points for month, points in months.items() if points}


def changes_of(entry: LedgerEntry) -> Changes:
    """What `entry` changes in the cohorts' lines."""
    kind = entry.type
    if entry.points > 0:
        months = credit_months(entry)
        settled, _ = settled_and_kept(months, entry.settled_debt)
        if kind in (TransactionType.EARN, TransactionType.AWARD):
            given = _changes("issued", months)
        elif kind is TransactionType.RECOVER:
            given = _changes("expired", months, -1)
        else:  # a REVERSAL giving back a redemption
            given = _changes("redeemed", months, -1)
        return joined(given, _changes("settled", settled))
    line = _DEBIT_LINES.get(kind)
    if line is None:
        return {}
    own = month_of(entry.created_at)
    return joined(*(_changes(line, allocation_months(a, own)) for a in entry.allocations))


_DEBIT_LINES = {
    TransactionType.REDEEM: "redeemed",
    TransactionType.DEDUCT: "deducted",
    TransactionType.EXPIRE: "expired",
    TransactionType.REVERSAL: "reversed",
}


def lines_of(changes: Iterable[tuple[str, int]]) -> dict[str, CohortLines]:
    """Summed changes as each cohort's lines, by issue month."""
    sums: dict[str, dict[str, int]] = {}
    for key, points in changes:
        month, line = key.split("#")
        cohort = sums.setdefault(month, {})
        cohort[line] = cohort.get(line, 0) + points
    return {month: CohortLines(**sums[month]) for month in sorted(sums)}
