"""The read side: the account summary and the history, each one DynamoDB request, and
the statement of a period."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from crm_points import statements
from crm_points.api_models import (
    CustomerPointsResponse,
    ExpirationScheduleItem,
    LaterExpirations,
    TransactionHistoryResponse,
    TransactionSearchResponse,
)
from crm_points.config import PointsConfig
from crm_points.dynamo import to_item
from crm_points.errors import NotFound, ValidationFailed
from crm_points.ledger import fifo_order
from crm_points.ledger_store import AdminStore, LedgerStore, decode_key, encode_key, tx_time
from crm_points.published import published
from crm_points.records import Account, LedgerEntry, LotQuarter, iso_utc
from crm_points.statements import Statement
from crm_points.validation import as_utc, business_day, day_bounds

RECENT_TRANSACTIONS = 10


def summarise(
    account: Account,
    recent: list[LedgerEntry],
    now: datetime,
    config: PointsConfig,
    later: Sequence[LotQuarter] = (),
) -> CustomerPointsResponse:
    """The summary of an account as of `now` (pure: no I/O).

    The schedule lists the account's lots one by one; its `later` lots (more than two years
    ahead, not read) are summed per calendar quarter.
    """
    window_end = now + timedelta(days=config.expiring_window_days)
    value_cents = Decimal(account.current_balance * config.point_value_cents)
    return CustomerPointsResponse(
        customer_id=account.customer_id,
        current_balance=account.current_balance,
        expiring_balance=sum(
            lot.remaining_points for lot in account.lots if lot.expires_at <= window_end
        ),
        expiring_window_days=config.expiring_window_days,
        points_value=(value_cents / 100).quantize(Decimal("0.01")),
        lifetime_earned=account.lifetime_earned,
        lifetime_redeemed=account.lifetime_redeemed,
        lifetime_expired=account.lifetime_expired,
        recent_transactions=published(recent),
        expiration_schedule=expiration_schedule(account),
        later_expirations=[
            LaterExpirations(
                quarter=lots.quarter,
                amount=lots.points,
                first_expiry_date=business_day(lots.first_expiry),
                last_expiry_date=business_day(lots.last_expiry),
                lots=lots.lots,
            )
            for lots in later
        ],
    )


def expiration_schedule(account: Account) -> list[ExpirationScheduleItem]:
    """The account's lots one by one, soonest first (the summary's schedule)."""
    return [
        ExpirationScheduleItem(
            amount=lot.remaining_points,
            expiry_date=business_day(lot.expires_at),
            point_batch_id=lot.point_batch_id,
        )
        for lot in fifo_order(account.lots)
    ]


def customer_points(
    store: LedgerStore, customer_id: str, now: datetime, config: PointsConfig
) -> CustomerPointsResponse:
    """The account summary (one Query), or 404 for a customer with no account."""
    account, recent, later = store.read_summary(customer_id, RECENT_TRANSACTIONS, now)
    if account is None:
        raise NotFound(f"Customer {customer_id} has no points account", {"customerId": customer_id})
    return summarise(account, recent, now, config, later)


def customer_history(
    store: LedgerStore, customer_id: str, limit: int, cursor: str | None
) -> TransactionHistoryResponse:
    """A page of history, newest first (one Query); 404 for an unknown customer."""
    account, entries, next_cursor = store.read_history(customer_id, limit, cursor)
    if account is None and cursor is None:
        raise NotFound(f"Customer {customer_id} has no points account", {"customerId": customer_id})
    return TransactionHistoryResponse(
        customer_id=customer_id, transactions=published(entries), next_cursor=next_cursor
    )


def customer_statement(
    store: LedgerStore,
    customer_id: str,
    first: date,
    last: date,
    now: datetime,
    config: PointsConfig,
) -> Statement:
    """The customer's statement of the business days `first` to `last` (two round trips);
    an empty one for a customer known only from a profile, 404 for an unknown customer,
    422 for a period too long."""
    statements.require_period(first, last)
    read = store.read_statement(customer_id, first, last, statements.MAX_STATEMENT_ENTRIES)
    account = read.account
    if account is None:
        # A customer known only from a profile event has an empty account (SPEC §2.1).
        profile = AdminStore(store.client, store.table).profile(customer_id)
        if profile is None:
            raise NotFound(
                f"Customer {customer_id} has no points account", {"customerId": customer_id}
            )
        account = Account(
            customer_id=customer_id, created_at=profile.updated_at, updated_at=profile.updated_at
        )
    return statements.statement(
        account, read.entries, read.balance_before, first, last, now, config.business_name
    )


@dataclass(frozen=True)
class TransactionQuery:
    """The filters of the seed's PointsTransactionQuery, plus the opaque cursor."""

    customer_id: str | None = None
    date_from: datetime | date | None = None
    date_to: datetime | date | None = None
    type: str | None = None
    limit: int = 20
    offset: int = 0
    cursor: str | None = None


MAX_OFFSET = 10_000
DEFAULT_RANGE = timedelta(days=366)
_FIRST_MOMENT = datetime.min.replace(tzinfo=UTC)
# A customer's history pages on its partition's key; every customer's on the time of the
# last entry shown (the sharded indexes are merged by it).
_CUSTOMER_CURSOR_KEYS = {"PK", "SK"}
_ALL_CUSTOMERS_CURSOR_KEYS = {"txTime"}


def search_transactions(
    admin: AdminStore, query: TransactionQuery, now: datetime
) -> TransactionSearchResponse:
    """Entries of one or every customer between two dates, newest first.

    One customer's: one Query of the customer's partition per page. Every customer's: the
    shards of the index of every entry by time (or by type and time), read in parallel and
    merged (AdminStore.transactions). `offset` skips entries as the seed's API does, reading
    past them; `cursor` is the efficient path.
    """
    time_from, time_to = _time_range(query, now)
    if query.offset and query.cursor:
        raise ValidationFailed("Give offset or cursor, not both", {"field": "offset"})
    if query.offset > MAX_OFFSET:
        raise ValidationFailed(f"offset may be at most {MAX_OFFSET}", {"field": "offset"})
    low, high = iso_utc(time_from), iso_utc(time_to)
    if query.customer_id:
        entries, next_cursor = _customer_page(admin, query, low, high)
    else:
        before = None
        if query.cursor:
            place = decode_key(query.cursor, _ALL_CUSTOMERS_CURSOR_KEYS, _scope(query))
            before = place["txTime"]["S"]
        found, more = admin.transactions(
            query.type, low, f"{high}#~", query.offset + query.limit, before
        )
        entries = found[query.offset :]
        last = {"txTime": tx_time(entries[-1])} if more and entries else None
        next_cursor = encode_key(to_item(last) if last else None, _scope(query))
    return TransactionSearchResponse(
        transactions=published(entries),
        limit=query.limit,
        offset=query.offset,
        next_cursor=next_cursor,
    )


def _customer_page(
    admin: AdminStore, query: TransactionQuery, low: str, high: str
) -> tuple[list[LedgerEntry], str | None]:
    assert query.customer_id is not None
    scope = _scope(query)
    start = decode_key(query.cursor, _CUSTOMER_CURSOR_KEYS, scope) if query.cursor else None
    skip = query.offset
    while True:
        entries, last = admin.customer_transactions(
            query.customer_id, query.type, low, high, query.limit + skip, start
        )
        dropped = min(skip, len(entries))
        entries, skip = entries[dropped:], skip - dropped
        if skip == 0 or last is None:
            return entries[: query.limit], encode_key(last, scope)
        start = last


def _scope(query: TransactionQuery) -> str:
    """What a cursor of this query is bound to: the filters as given (not the open end's
    "now", which moves from page to page). The page size may change between pages."""
    given = (query.customer_id, query.type, query.date_from, query.date_to)
    return "transactions|" + "|".join("" if value is None else str(value) for value in given)


def _time_range(query: TransactionQuery, now: datetime) -> tuple[datetime, datetime]:
    def bound(value: datetime | date, last: bool) -> datetime:
        if isinstance(value, datetime):
            return as_utc(value)
        first_moment, last_moment = day_bounds(value)
        return last_moment if last else first_moment

    time_from = bound(query.date_from, last=False) if query.date_from else None
    if query.date_to:
        time_to = bound(query.date_to, last=True)
    else:
        # Open-ended: to now, or for a dateFrom still to come, from it on (nothing yet).
        time_to = max(now, time_from) if time_from else now
    if time_from is None:
        time_from = max(time_to, _FIRST_MOMENT + DEFAULT_RANGE) - DEFAULT_RANGE
    if time_from > time_to:
        raise ValidationFailed("dateFrom is after dateTo", {"field": "dateFrom"})
    return time_from, time_to
