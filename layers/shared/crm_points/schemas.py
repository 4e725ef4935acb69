"""The API's response models, named as in the seed's interfaces."""

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import Field, PlainSerializer

from crm_points.models import CamelModel, LedgerEntry

# Rand amounts are JSON numbers with two decimals at most.
Rand = Annotated[Decimal, PlainSerializer(lambda value: float(value), return_type=float)]

PointTransaction = LedgerEntry


class ExpirationScheduleItem(CamelModel):
    amount: int
    expiry_date: date = Field(description="Day the points expire (Africa/Johannesburg)")


class CustomerPointsResponse(CamelModel):
    """GET /customers/{customerId}/points: the seed's CustomerPointsResponse plus pointsValue."""

    customer_id: str
    current_balance: int
    expiring_balance: int = Field(description="Points expiring in the next 30 days")
    points_value: Rand = Field(description="currentBalance in rand")
    lifetime_earned: int
    lifetime_redeemed: int
    lifetime_expired: int
    recent_transactions: list[PointTransaction]
    expiration_schedule: list[ExpirationScheduleItem]


class TransactionHistoryResponse(CamelModel):
    """A page of a customer's history, newest first."""

    customer_id: str
    transactions: list[PointTransaction]
    next_cursor: str | None = None
