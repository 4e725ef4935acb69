"""Prove the ledger has not drifted: recompute, from an account's immutable entries, what
its stored state claims, and name every difference (docs/operations.md, "Reconciliation").

Plain Python over models: the reading is the store's (LedgerStore.ledger_of), the running
and reporting the caller's. Nothing here writes; a difference is a bug to find, never
something to "repair" in the ledger (a correction is a new entry made by a person).
"""

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from crm_points import cohorts
from crm_points.analytics import MonthTotals, RunningTotals, effect_of
from crm_points.analytics_store import AnalyticsStore
from crm_points.cohorts import Changes, CohortLines
from crm_points.ledger_store import LedgerStore
from crm_points.records import Account, LedgerEntry, TransactionType
from crm_points.validation import month_of

# A month is closed to a rebuild an hour after it ends: no entry is written into a month
# that is over, and the stream has counted its last ones within seconds.
CLOSED_AFTER = timedelta(hours=1)

# The lifetime figure each kind of entry moves, by the sign of its points (ledger.Figure):
# a credit of REVERSAL returns redeemed points, a debit of REVERSAL takes back an earn.
_EARNED = {TransactionType.EARN, TransactionType.AWARD}
_REDEEMED = {TransactionType.REDEEM, TransactionType.DEDUCT}
_EXPIRED = {TransactionType.EXPIRE, TransactionType.RECOVER}


@dataclass(frozen=True)
class Difference:
    """What the stored state says against what the entries say."""

    customer_id: str
    field: str
    stored: Any
    recomputed: Any

    def as_json(self) -> dict[str, Any]:
        """The difference as the report prints it."""
        return asdict(self)


@dataclass(frozen=True)
class Figures:
    """An account's figures as its entries make them."""

    balance: int
    earned: int
    redeemed: int
    expired: int
    lots: dict[str, int]  # the remaining points of every lot that has any
    lot_months: dict[str, dict[str, int]]  # and those points by issue month
    cohorts: dict[str, CohortLines]  # the account's points by issue month, and their fate


def recompute(entries: Sequence[LedgerEntry]) -> Figures:
    """The balance, lifetime figures and lots that these entries (all of one account, in
    sequence order) add up to."""
    balance = earned = redeemed = expired = 0
    lots: Counter[str] = Counter()
    lot_months: dict[str, cohorts.Months] = {}
    changes: cohorts.Changes = {}

    def move(lot_id: str, months: cohorts.Months, sign: int) -> None:
        signed = {month: sign * points for month, points in months.items()}
        lot_months[lot_id] = cohorts.joined(lot_months.get(lot_id, {}), signed)

    for entry in entries:
        changes = cohorts.joined(changes, cohorts.changes_of(entry))
        own = month_of(entry.created_at)
        points = entry.points
        balance += points
        if entry.type in _EARNED:
            earned += points
        elif entry.type in _REDEEMED:
            redeemed -= points
        elif entry.type in _EXPIRED:  # an EXPIRE adds to the figure, a RECOVER takes back
            expired -= points
        elif entry.type is TransactionType.REVERSAL and points > 0:
            redeemed -= points
        elif entry.type is TransactionType.REVERSAL:
            # The earn goes, and so do its points that had expired (never taken twice).
            earned += points - entry.already_expired
            expired -= entry.already_expired
        if points > 0 and entry.point_batch_id:
            lots[entry.point_batch_id] += points - entry.settled_debt
            _, kept = cohorts.settled_and_kept(cohorts.credit_months(entry), entry.settled_debt)
            move(entry.point_batch_id, kept, 1)
        for allocation in entry.allocations:
            lots[allocation.point_batch_id] -= allocation.points
            move(allocation.point_batch_id, cohorts.allocation_months(allocation, own), -1)
        for merge in entry.merged_lots:
            lots[merge.point_batch_id] -= merge.points
            lots[merge.merged_into] += merge.points
            months = merge.issue_months or {
                cohorts.made_month(merge.point_batch_id, own): merge.points
            }
            move(merge.point_batch_id, months, -1)
            move(merge.merged_into, months, 1)
    return Figures(
        balance,
        earned,
        redeemed,
        expired,
        {k: v for k, v in lots.items() if v},
        {k: v for k, v in lot_months.items() if v},
        cohorts.lines_of(changes.items()),
    )


def check_account(account: Account, entries: Sequence[LedgerEntry]) -> list[Difference]:
    """Every way the stored account disagrees with its entries: the balance and lifetime
    figures, the numbering and `balanceAfter` chain of the entries, and each lot's
    remaining points (a lot the entries leave empty must be gone)."""
    customer = account.customer_id
    found: list[Difference] = []

    def differ(field: str, stored: Any, recomputed: Any) -> None:
        if stored != recomputed:
            found.append(Difference(customer, field, stored, recomputed))

    ordered = sorted(entries, key=lambda entry: entry.sequence)
    differ("entryCount", account.entry_count, len(ordered))
    numbers = [entry.sequence for entry in ordered]
    differ("entrySequences", numbers, list(range(1, len(ordered) + 1)))
    running = 0
    for entry in ordered:
        running += entry.points
        differ(f"balanceAfter[{entry.sequence}]", entry.balance_after, running)
    figures = recompute(ordered)
    differ("currentBalance", account.current_balance, figures.balance)
    differ("lifetimeEarned", account.lifetime_earned, figures.earned)
    differ("lifetimeRedeemed", account.lifetime_redeemed, figures.redeemed)
    differ("lifetimeExpired", account.lifetime_expired, figures.expired)
    stored_lots = {lot.point_batch_id: lot.remaining_points for lot in account.lots}
    for lot_id in sorted(stored_lots.keys() | figures.lots.keys()):
        differ(
            f"lots[{lot_id}].remainingPoints",
            stored_lots.get(lot_id, 0),
            figures.lots.get(lot_id, 0),
        )
    differ(
        "sum(lots.remainingPoints)",
        sum(stored_lots.values()),
        max(figures.balance, 0),
    )
    if not all(cohorts.names_its_months(entry) for entry in ordered):
        # A ledger begun before the months were recorded: its lots' months were read, not
        # recorded (docs/operations.md, "Healing the analytics"); every other figure is
        # checked.
        return found
    stored_months = {lot.point_batch_id: lot.issue_months for lot in account.lots}
    for lot_id in sorted(stored_months.keys() | figures.lot_months.keys()):
        differ(
            f"lots[{lot_id}].issueMonths",
            stored_months.get(lot_id, {}),
            figures.lot_months.get(lot_id, {}),
        )
    # Each cohort's lines (what its points became, entry by entry) leave outstanding what
    # the lots hold of it.
    held = cohorts.joined(*stored_months.values())
    for month in sorted(held.keys() | figures.cohorts.keys()):
        differ(
            f"cohorts[{month}].outstanding",
            held.get(month, 0),
            figures.cohorts.get(month, CohortLines()).outstanding,
        )
    return found


# The subject of an analytics difference (an account's is its customer id).
ANALYTICS = "ANALYTICS"


@dataclass
class Report:
    """What a reconciliation checked and found."""

    accounts: int = 0
    differences: list[Difference] = field(default_factory=list)
    months: dict[str, MonthTotals] = field(default_factory=dict)  # as the entries make them
    running: RunningTotals = field(default_factory=RunningTotals)
    cohorts: dict[str, Changes] = field(default_factory=dict)  # likewise, by month

    def as_json(self) -> dict[str, Any]:
        """The report as printed and logged."""
        return {
            "accounts": self.accounts,
            "differences": [difference.as_json() for difference in self.differences],
        }


def reconcile(
    store: LedgerStore,
    customer_ids: Iterable[str],
    analytics: AnalyticsStore | None = None,
    workers: int = 1,
) -> Report:
    """Check each account against its entries, `workers` accounts read at once; with
    `analytics` (only when `customer_ids` is every account), the analytics aggregates
    against what all the entries add up to. Never writes."""
    report = Report()
    for customer_id, (account, entries) in _ledgers(store, customer_ids, workers):
        if account is None:  # listed, then gone: the ledger never deletes an account
            report.differences.append(Difference(customer_id, "account", None, "missing"))
            continue
        report.accounts += 1
        report.differences.extend(check_account(account, entries))
        for entry in entries:
            effect = effect_of(entry)
            report.months[effect.month] = report.months.get(effect.month, MonthTotals()) + (
                effect.totals
            )
            if effect.cohorts:
                report.cohorts[effect.month] = cohorts.joined(
                    report.cohorts.get(effect.month, {}), effect.cohorts
                )
    report.running = sum((month.running for month in report.months.values()), RunningTotals())
    if analytics is not None:
        months, running = analytics.aggregates()
        report.differences.extend(
            check_analytics(months, running, report, analytics.cohort_changes())
        )
    return report


def _ledgers(
    store: LedgerStore, customer_ids: Iterable[str], workers: int
) -> Iterator[tuple[str, tuple[Account | None, list[LedgerEntry]]]]:
    """Each account with its entries, read `workers` at a time; a few rounds ahead at
    most, so that a sweep of every account holds no more than that in memory."""
    ids = iter(customer_ids)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while chunk := list(islice(ids, workers * 4)):
            yield from zip(chunk, pool.map(store.ledger_of, chunk), strict=True)


def check_analytics(
    months: dict[str, MonthTotals],
    running: RunningTotals,
    report: Report,
    cohort_changes: dict[str, Changes],
) -> list[Difference]:
    """Every month's stored totals, the running totals and each month's changes to the
    cohorts' lines against what the entries of that month add up to. The stream counts an
    entry within seconds of its write: run this once the stream has caught up
    (`/local/drain`; in AWS, its IteratorAge near zero)."""
    found: list[Difference] = []
    for month in sorted(months.keys() | report.months.keys()):
        stored = asdict(months.get(month, MonthTotals()))
        recomputed = asdict(report.months.get(month, MonthTotals()))
        found.extend(
            Difference(ANALYTICS, f"{month}.{name}", stored[name], recomputed[name])
            for name in stored
            if stored[name] != recomputed[name]
        )
    for name, value in asdict(running).items():
        if value != getattr(report.running, name):
            found.append(
                Difference(ANALYTICS, f"running.{name}", value, getattr(report.running, name))
            )
    for month in sorted(cohort_changes.keys() | report.cohorts.keys()):
        stored_lines = cohort_changes.get(month, {})
        recomputed_lines = report.cohorts.get(month, {})
        found.extend(
            Difference(
                ANALYTICS,
                f"{month}.cohorts[{key}]",
                stored_lines.get(key, 0),
                recomputed_lines.get(key, 0),
            )
            for key in sorted(stored_lines.keys() | recomputed_lines.keys())
            if stored_lines.get(key, 0) != recomputed_lines.get(key, 0)
        )
    return found


@dataclass(frozen=True)
class Correction:
    """What a rebuild adds to a closed month's totals, and whether it was applied now."""

    month: str
    delta: MonthTotals
    applied: bool
    cohorts: Changes = field(default_factory=dict)


def rebuild_analytics(
    store: LedgerStore,
    analytics: AnalyticsStore,
    customer_ids: Iterable[str],
    now: datetime,
    dry_run: bool = False,
) -> list[Correction]:
    """Heal the analytics of every closed month from the ledger (a stream batch lost for
        good leaves them short): each month's difference between what its entries add up to
        and what is stored is added to it, and to the running totals. Idempotent: once
        applied, the difference is zero; and a correction is recorded with what it was computed
        from, so two rebuilds racing apply it once. The month still open is left to the stream
        (the reconciliation shows its drift; rebuild it once it has closed). `customer_ids` is
    every account (deploy.sweep)."""
    stored, _ = analytics.aggregates()
    stored_cohorts = analytics.cohort_changes()
    report = reconcile(store, customer_ids)
    recomputed, recomputed_cohorts = report.months, report.cohorts
    still_open = month_of(now - CLOSED_AFTER)
    corrections = []
    every_month = (
        stored.keys() | recomputed.keys() | stored_cohorts.keys() | recomputed_cohorts.keys()
    )
    for month in sorted(every_month):
        if month >= still_open:
            continue
        was = asdict(stored.get(month, MonthTotals()))
        should = asdict(recomputed.get(month, MonthTotals()))
        lines_were = stored_cohorts.get(month, {})
        lines_should = recomputed_cohorts.get(month, {})
        if was == should and lines_were == lines_should:
            continue
        delta = MonthTotals(**{name: should[name] - was[name] for name in was})
        lines_delta = cohorts.joined(
            lines_should, {key: -points for key, points in lines_were.items()}
        )
        basis = hashlib.sha256(
            json.dumps([month, was, should, lines_were, lines_should], sort_keys=True).encode()
        ).hexdigest()[:16]
        applied = False if dry_run else analytics.correct(month, delta, basis, lines_delta)
        corrections.append(Correction(month, delta, applied, lines_delta))
    return corrections
