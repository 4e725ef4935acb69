"""The ledger's invariants (SPEC §2), checked against what DynamoDB holds."""

from collections import defaultdict

from crm_points.ledger_store import INLINE_EXPIRIES, INLINE_LOTS, LedgerStore, quarter
from crm_points.reconciliation import check_account
from crm_points.records import LedgerEntry, TransactionType


def all_entries(store: LedgerStore, customer_id: str) -> list[LedgerEntry]:
    """The whole history, oldest first, read page by page as a client would."""
    entries: list[LedgerEntry] = []
    cursor = None
    while True:
        _, page, cursor = store.read_history(customer_id, 100, cursor)
        entries.extend(page)
        if cursor is None:
            return list(reversed(entries))


def check_ledger(
    store: LedgerStore, customer_id: str, seen: dict[int, LedgerEntry] | None = None
) -> list[LedgerEntry]:
    """Assert every invariant of one customer's ledger; `seen` remembers entries between
    calls, to assert that none ever changes. Returns the entries, oldest first."""
    account = store.load_account(customer_id)
    assert account is not None
    # §2.1 identity.
    assert account.current_balance == (
        account.lifetime_earned - account.lifetime_redeemed - account.lifetime_expired
    )
    # §2.8: active lots hold exactly the positive balance; none is below zero.
    assert sum(lot.remaining_points for lot in account.lots) == max(account.current_balance, 0)
    assert all(0 < lot.remaining_points <= lot.original_points for lot in account.lots)
    # Each lot holds its points by the month they were issued in (their cohort).
    assert all(
        sum(lot.issue_months.values()) == lot.remaining_points
        and all(points > 0 for points in lot.issue_months.values())
        for lot in account.lots
    )
    # An account holds few lots and expiries itself, or keeps them all in pages; the account
    # item's sums of its lot pages (what a summary shows of lots more than two years ahead)
    # are the sums of the lots.
    if not account.pages:
        assert len(account.lots) <= INLINE_LOTS
        assert len(account.unrecovered_expiries) <= INLINE_EXPIRIES
    else:
        by_quarter: dict[str, list[int]] = defaultdict(list)
        for lot in account.lots:
            by_quarter[quarter(lot.expires_at)].append(lot.remaining_points)
        summed = {page.lots.quarter: page.lots for page in account.pages if page.lots}
        assert {name: (each.points, each.lots) for name, each in summed.items()} == {
            name: (sum(points), len(points)) for name, points in by_quarter.items()
        }
    entries = all_entries(store, customer_id)
    assert [entry.sequence for entry in entries] == list(range(1, account.entry_count + 1))
    running = 0
    for entry in entries:
        running += entry.points
        # Each entry's balanceAfter is the running sum.
        assert entry.balance_after == running
        # No entry ever changes once written.
        if seen is not None:
            assert seen.setdefault(entry.sequence, entry) == entry
    assert running == account.current_balance
    # Expired points leave lifetimeExpired only through a RECOVER, or a cancelled
    # booking's REVERSAL that does not take its already expired points again.
    expired_total = (
        sum(-e.points for e in entries if e.type == TransactionType.EXPIRE)
        - sum(e.points for e in entries if e.type == TransactionType.RECOVER)
        - sum(e.already_expired for e in entries)
    )
    assert expired_total == account.lifetime_expired
    # The reconciliation finds nothing: every figure and lot follows from the entries.
    assert check_account(account, entries) == []
    return entries
