"""The API's response models, named as in the seed's interfaces."""

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, PlainSerializer

from crm_points.config import (
    EarnRate,
    ExpiringWindowDays,
    Percentage,
    PointValueCents,
    PositiveCount,
    ReinstatementDays,
    ValidityDays,
)
from crm_points.models import Approval, CamelModel, CustomerProfile, LedgerEntry
from crm_points.validation import Amount, DayOrMoment, Id, Reason, WholeNumber

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


# -- requests -------------------------------------------------------------------------------


class AwardPointsRequest(CamelModel):
    """POST /points/award: the seed's AwardPointsRequest. The actor is the token's subject;
    an `adminUserId` other than it is refused."""

    customer_id: Id
    amount: Amount
    reason: Reason
    expiry_date: DayOrMoment | None = None
    admin_user_id: Id | None = None
    notify_customer: bool = False


class DeductPointsRequest(CamelModel):
    """POST /points/deduct: the seed's DeductPointsRequest, plus allowNegative (ADMIN)."""

    customer_id: Id
    amount: Amount
    reason: Reason
    admin_user_id: Id | None = None
    require_approval: bool = False
    allow_negative: bool = False


class RedeemPointsRequest(CamelModel):
    customer_id: Id
    amount: Amount
    reason: Reason
    booking_id: Id | None = None


class ExtendExpiryRequest(CamelModel):
    point_batch_id: Id
    new_expiry_date: DayOrMoment
    reason: Reason


class RecoverExpiredRequest(CamelModel):
    transaction_id: Id
    reason: Reason
    new_expiry_date: DayOrMoment


class DecisionRequest(CamelModel):
    """Optional body of approve and reject."""

    reason: Reason | None = None


def _json_number(value: object) -> object:
    """A rate is a JSON number: not text, not a boolean."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("Input should be a number")
    return value


def _settings_schema(schema: dict[str, Any]) -> None:
    """Every key may be left out (the setting keeps its value) but none may be null; a rate
    is a JSON number (pydantic's schema of a Decimal also allows text)."""
    for field in schema.get("properties", {}).values():
        field.pop("default", None)
        kept = [branch for branch in field.pop("anyOf", []) if branch.get("type") != "null"]
        if any(branch.get("type") == "number" for branch in kept):
            kept = [branch for branch in kept if branch.get("type") == "number"]
        if kept:
            field.update(kept[0])


Strict = Field(strict=True)
Number = BeforeValidator(_json_number)


class PointsConfigUpdate(CamelModel):
    """PUT /points/config: the keys to change (SPEC §10); the others keep their values.
    Each takes the type and limits of its setting in PointsConfig."""

    model_config = ConfigDict(json_schema_extra=_settings_schema)

    point_value_cents: Annotated[PointValueCents, Strict, WholeNumber] | None = None
    earn_rate: Annotated[EarnRate, Number] | None = None
    validity_days: Annotated[ValidityDays, Strict, WholeNumber] | None = None
    rolling_expiry: Annotated[bool, Strict] | None = None
    reinstatement_days: Annotated[ReinstatementDays, Strict, WholeNumber] | None = None
    expiring_window_days: Annotated[ExpiringWindowDays, Strict, WholeNumber] | None = None
    large_redemption_points: Annotated[PositiveCount, Strict, WholeNumber] | None = None
    high_expiration_rate_pct: Annotated[Percentage, Number] | None = None
    low_redemption_rate_pct: Annotated[Percentage, Number] | None = None
    support_agent_award_limit: Annotated[PositiveCount, Strict, WholeNumber] | None = None
    manager_deduct_limit: Annotated[PositiveCount, Strict, WholeNumber] | None = None
    booking_link: str | None = None
    sender_email: str | None = None
    ops_topic_arn: str | None = None


# -- responses ------------------------------------------------------------------------------


class PointsTransactionResponse(CamelModel):
    """The answer to a ledger write: the entries it made and the balance after them."""

    customer_id: str
    transactions: list[PointTransaction]
    current_balance: int


class ApprovalList(CamelModel):
    approvals: list[Approval]
    next_cursor: str | None = None


class TransactionSearchResponse(CamelModel):
    """GET /points/transactions: a page, newest first."""

    transactions: list[PointTransaction]
    limit: int
    offset: int = 0
    next_cursor: str | None = None


class CustomerSearchResponse(CamelModel):
    customers: list[CustomerProfile]


class ErrorBody(CamelModel):
    code: str = Field(
        description="VALIDATION_ERROR, UNAUTHORIZED, FORBIDDEN, LIMIT_EXCEEDED, "
        "NOT_FOUND, INSUFFICIENT_POINTS, CONFLICT or IDEMPOTENCY_KEY_REUSED"
    )
    message: str
    details: dict[str, Any]


class ErrorResponse(CamelModel):
    """Every failure's body (SPEC §3)."""

    error: ErrorBody
    request_id: str
