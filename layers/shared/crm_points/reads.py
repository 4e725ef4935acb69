"""The read side: the account summary and the history, each one DynamoDB request."""

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from crm_points.config import PointsConfig
from crm_points.errors import NotFound
from crm_points.models import Account, LedgerEntry
from crm_points.schemas import (
    CustomerPointsResponse,
    ExpirationScheduleItem,
    TransactionHistoryResponse,
)
from crm_points.store import LedgerStore

BUSINESS_TIMEZONE = ZoneInfo("Africa/Johannesburg")
RECENT_TRANSACTIONS = 10


def summarise(
    account: Account, recent: list[LedgerEntry], now: datetime, config: PointsConfig
) -> CustomerPointsResponse:
    """The summary of an account as of `now` (pure: no I/O)."""
    window_end = now + timedelta(days=config.expiring_window_days)
    by_day: dict[date, int] = defaultdict(int)
    for lot in account.lots:
        by_day[lot.expires_at.astimezone(BUSINESS_TIMEZONE).date()] += lot.remaining_points
    value_cents = Decimal(account.current_balance * config.point_value_cents)
    return CustomerPointsResponse(
        customer_id=account.customer_id,
        current_balance=account.current_balance,
        expiring_balance=sum(
            lot.remaining_points for lot in account.lots if lot.expires_at <= window_end
        ),
        points_value=(value_cents / 100).quantize(Decimal("0.01")),
        lifetime_earned=account.lifetime_earned,
        lifetime_redeemed=account.lifetime_redeemed,
        lifetime_expired=account.lifetime_expired,
        recent_transactions=recent,
        expiration_schedule=[
            ExpirationScheduleItem(amount=amount, expiry_date=day)
            for day, amount in sorted(by_day.items())
        ],
    )


def customer_points(
    store: LedgerStore, customer_id: str, now: datetime, config: PointsConfig
) -> CustomerPointsResponse:
    """The account summary (one Query), or 404 for a customer with no account."""
    account, recent = store.read_summary(customer_id, RECENT_TRANSACTIONS)
    if account is None:
        raise NotFound(f"Customer {customer_id} has no points account", {"customerId": customer_id})
    return summarise(account, recent, now, config)


def customer_history(
    store: LedgerStore, customer_id: str, limit: int, cursor: str | None
) -> TransactionHistoryResponse:
    """A page of history, newest first (one Query); 404 for an unknown customer."""
    account, entries, next_cursor = store.read_history(customer_id, limit, cursor)
    if account is None and cursor is None:
        raise NotFound(f"Customer {customer_id} has no points account", {"customerId": customer_id})
    return TransactionHistoryResponse(
        customer_id=customer_id, transactions=entries, next_cursor=next_cursor
    )
