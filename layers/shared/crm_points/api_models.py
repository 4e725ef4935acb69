"""The API's response models, named as in the seed's interfaces."""

from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)

from crm_points.alerts import Alert
from crm_points.config import (
    BreakageWindowMonths,
    EarnRate,
    ExpiringWindowDays,
    Percentage,
    PointValueCents,
    PositiveCount,
    ReinstatementDays,
    StandaloneValueCents,
    ValidityDays,
)
from crm_points.published import PointTransaction, published
from crm_points.records import (
    Approval,
    CamelModel,
    CustomerProfile,
    PostingResult,
)
from crm_points.validation import (
    OPS_TOPIC_PATTERN,
    Amount,
    DayOrMoment,
    EmailAddress,
    Flag,
    HttpsLink,
    Id,
    PlainText,
    PlainTextSchema,
    Reason,
    WholeNumber,
)

# Rand amounts are JSON numbers with two decimals at most.
Rand = Annotated[Decimal, PlainSerializer(lambda value: float(value), return_type=float)]


class ExpirationScheduleItem(CamelModel):
    amount: int
    expiry_date: date = Field(description="Day the points expire (Africa/Johannesburg)")
    point_batch_id: str = Field(
        description="The lot holding them: a customer's points of one expiry day are one lot "
        "(what POST /points/extend-expiry takes)"
    )


class LaterExpirations(CamelModel):
    """The lots of one calendar quarter more than two years ahead, summed."""

    quarter: str = Field(description="The calendar quarter, as 2028-Q3")
    amount: int
    first_expiry_date: date = Field(description="The first of their expiry days")
    last_expiry_date: date = Field(description="The last of their expiry days")
    lots: int = Field(description="How many lots (expiry days)")


class CustomerPointsResponse(CamelModel):
    """GET /customers/{customerId}/points: the seed's CustomerPointsResponse plus pointsValue,
    expiringWindowDays and laterExpirations."""

    customer_id: str
    current_balance: int
    expiring_balance: int = Field(
        description="Points expiring within the next expiringWindowDays days"
    )
    expiring_window_days: ExpiringWindowDays = Field(
        description="The window expiringBalance counts: the expiringWindowDays setting (SPEC "
        "§10), for a reader that may not read the configuration"
    )
    points_value: Rand = Field(description="currentBalance in rand")
    lifetime_earned: int
    lifetime_redeemed: int
    lifetime_expired: int
    recent_transactions: list[PointTransaction]
    expiration_schedule: list[ExpirationScheduleItem] = Field(
        description="Every lot expiring within two years (to the end of that quarter), soonest "
        "first"
    )
    later_expirations: list[LaterExpirations] = Field(
        default_factory=list,
        description="The lots beyond those, one row per calendar quarter (docs/ledger.md)",
    )


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
    notify_customer: Flag = False


class DeductPointsRequest(CamelModel):
    """POST /points/deduct: the seed's DeductPointsRequest, plus allowNegative (ADMIN)."""

    customer_id: Id
    amount: Amount
    reason: Reason
    admin_user_id: Id | None = None
    require_approval: Flag = False
    allow_negative: Flag = False


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
    booking_link: HttpsLink | None = None
    sender_email: EmailAddress | None = None
    ops_topic_arn: (
        Annotated[
            str,
            Field(
                description="Empty (the stack's own topic), or an SNS topic of this account "
                "and region named crm-points-ops-…",
                json_schema_extra={"pattern": OPS_TOPIC_PATTERN},
            ),
        ]
        | None
    ) = None


def _numbers_or_null(schema: dict[str, Any]) -> None:
    """Every key may be left out; a value is a JSON number (pydantic's schema of a Decimal
    also allows text), or null where it may be unset."""
    for field in schema.get("properties", {}).values():
        field.pop("default", None)
        if "anyOf" in field:
            field["anyOf"] = [b for b in field["anyOf"] if b.get("type") in ("number", "null")]


class FinanceSettingsUpdate(CamelModel):
    """PUT /points/finance/settings: finance's settings (docs/finance.md), kept with the
    configuration (§10) and audited like every change of it. A key left out keeps its value;
    null unsets the value per point or the override."""

    model_config = ConfigDict(json_schema_extra=_numbers_or_null)

    standalone_point_value_cents: Annotated[StandaloneValueCents, Number] | None = Field(
        default=None,
        description="The value per point finance states the liability at, in cents (up to 4 "
        "decimals): IFRS 15's allocated standalone selling price; null: pointValueCents",
    )
    breakage_rate_override_pct: Annotated[Percentage, Number] | None = Field(
        default=None,
        description="The breakage rate finance sets, in % (up to 4 decimals), in place of the "
        "one computed from the resolved cohorts; null: the computed one",
    )
    breakage_window_months: BreakageWindowMonths = Field(
        default=24,
        description="The trailing months of cohorts the breakage rate is computed over, 1 to 120",
    )


# -- responses ------------------------------------------------------------------------------


class PointsTransactionResponse(CamelModel):
    """The answer to a ledger write: the entries it made and the balance after them."""

    customer_id: str
    transactions: list[PointTransaction]
    current_balance: int

    @classmethod
    def of(cls, result: PostingResult) -> "PointsTransactionResponse":
        """A write's answer from what the ledger service returned."""
        return cls(
            customer_id=result.customer_id,
            transactions=published(result.transactions),
            current_balance=result.current_balance,
        )


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


# -- alerts (SPEC §7) -----------------------------------------------------------------------


class AlertList(CamelModel):
    """GET /alerts and /customers/{customerId}/alerts: a page, newest first."""

    alerts: list[Alert]
    next_cursor: str | None = None


class AlertNoteRequest(CamelModel):
    """Optional body of acknowledge and resolve."""

    note: (
        Annotated[str, StringConstraints(min_length=1, max_length=500), PlainText, PlainTextSchema]
        | None
    ) = None


# -- bulk awards (SPEC §3: POST /points/bulk-award) -------------------------------------------

MAX_BULK_ROWS = 10_000


class BulkAwardRowInput(CamelModel):
    """One row of a bulk award. It is checked on its own, with the rules of POST
    /points/award: a row that breaks them (or has another field) fails alone in the job, with
    its reason, and the other rows are awarded."""

    # Only the camelCase names: `customer_id` is another field, which fails the row.
    model_config = ConfigDict(extra="allow", populate_by_name=False, title="BulkAwardRow")

    customer_id: Any = Field(default=None, description="[A-Za-z0-9_-]{1,64}; required")
    amount: Any = Field(default=None, description="Whole number 1..1,000,000; required")
    reason: Any = Field(default=None, description="3..500 characters; required")
    expiry_date: Any = Field(
        default=None,
        description="Optional: a day (2027-01-31) or a moment with a timezone, later than "
        "today; by default the points last validityDays (§10)",
    )


class BulkAwardRequest(CamelModel):
    """POST /points/bulk-award as JSON: 1 to 10,000 rows."""

    rows: Annotated[list[BulkAwardRowInput], Field(min_length=1, max_length=MAX_BULK_ROWS)]


def _inline_definitions(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema with its `$defs` written in place (an OpenAPI request body cannot
    point into a schema's own `$defs`)."""
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            if reference.startswith("#/$defs/"):
                return inline(definitions[reference.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    return inlined


def bulk_award_request_body(csv_pattern: str) -> dict[str, Any]:
    """The OpenAPI request body of POST /points/bulk-award: JSON rows, or CSV text."""
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": _inline_definitions(BulkAwardRequest.model_json_schema(by_alias=True))
            },
            "text/csv": {
                "schema": {
                    "type": "string",
                    "pattern": csv_pattern,
                    "description": "The header line customerId,amount,reason (or "
                    "customerId,amount,reason,expiryDate), then 1 to 10,000 rows (RFC 4180: "
                    "fields with commas or quotes in double quotes). An empty expiryDate means "
                    "the default validity. Empty lines are skipped.",
                },
                "example": "customerId,amount,reason,expiryDate\n"
                "demo-001,500,Loyalty weekend,2027-06-30\n"
                "demo-002,250,Loyalty weekend,\n",
            },
        },
    }
