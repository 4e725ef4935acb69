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
from crm_points.lot_history import LotEvent, LotSummary
from crm_points.notification_templates import Channel, Kind
from crm_points.published import PointTransaction, published
from crm_points.records import (
    Approval,
    CamelModel,
    CustomerProfile,
    Erasure,
    ExpiringReminder,
    PostingResult,
    UtcDateTime,
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


class LotHistoryResponse(CamelModel):
    """GET /points/lots/{pointBatchId}: a lot as it is now, and a page of its life, oldest
    first (docs/api.md, "A lot's life")."""

    lot: LotSummary
    events: list[LotEvent]
    next_cursor: str | None = Field(
        default=None, description="The next page of events, for GET /points/lots/{pointBatchId}"
    )


class DrawnLot(CamelModel):
    """A lot a debit drew from: how much, the lot now, and what it was made of up to then."""

    point_batch_id: str
    points: int = Field(description="What the debit took from it")
    lot: LotSummary
    credits: list[LotEvent] = Field(
        description="The credits that made and joined it up to the debit, oldest first (at "
        "most 50: GET /points/lots/{pointBatchId} has them all)"
    )
    credit_count: int = Field(description="How many credits it had up to the debit")
    merged_in: list[LotEvent] = Field(
        description="The lots that joined it up to the debit, oldest first (at most 50)"
    )
    merged_in_count: int


class TransactionExplanation(CamelModel):
    """GET /points/transactions/{transactionId}: an entry and the lots it touched."""

    transaction: PointTransaction
    lot: LotHistoryResponse | None = Field(
        default=None,
        description="A credit or an EXPIRY_EXTENDED: the lot it made, joined or extended, "
        "now, and what became of it from this entry on (a first page)",
    )
    drawn_from: list[DrawnLot] = Field(
        default_factory=list, description="A debit: each lot it drew from, in its order"
    )
    overdrawn: int = Field(
        default=0,
        description="A debit: its points that no lot held (the balance went below zero)",
    )


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
    business_name: (
        Annotated[str, StringConstraints(min_length=1, max_length=100), PlainText, PlainTextSchema]
        | None
    ) = None
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


# -- personal data (POPIA: docs/security.md, docs/api.md "Personal data") --------------------


class ErasureRequest(CamelModel):
    """POST /customers/{customerId}/erase: why (the request's reason, kept with the erasure)."""

    reason: Reason


class AccountFigures(CamelModel):
    """A customer's account as it stands: its figures and every lot."""

    current_balance: int
    lifetime_earned: int
    lifetime_redeemed: int
    lifetime_expired: int
    created_at: UtcDateTime
    updated_at: UtcDateTime
    expiration_schedule: list[ExpirationScheduleItem] = Field(
        description="Every lot, soonest to expire first"
    )


class NotificationRecord(CamelModel):
    """A message to the customer as the system records it: which one, and how far it got.
    The address and the words are not kept (`retention`)."""

    notification_id: str
    kind: Kind
    channel: Channel
    transaction_id: str | None = Field(
        default=None, description="The entry it was about (pointsAwarded, pointsExpired)"
    )
    reminder_run_time: UtcDateTime | None = Field(
        default=None, description="The reminder run it was about (pointsExpiring)"
    )
    about_at: UtcDateTime = Field(description="When the entry or the reminder was made")
    queued: bool = Field(description="Handed to the notifications queue")
    sent: bool = Field(description="Sent by SES (e-mail) or SNS (SMS)")


class Retention(CamelModel):
    """What kind of data is kept, where, and for how long."""

    data: str
    kept: str


class PersonalDataResponse(CamelModel):
    """GET /customers/{customerId}/personal-data: everything held about the customer."""

    customer_id: str
    generated_at: UtcDateTime
    profile: CustomerProfile | None = Field(
        description="Contact details and notification choices (null: none received)"
    )
    account: AccountFigures | None = Field(description="null: no points account yet")
    transactions: list[PointTransaction] = Field(description="Every ledger entry, oldest first")
    expiring_reminders: list[ExpiringReminder] = Field(
        description="Every pointsExpiring reminder the expiring-reminders run made, oldest first"
    )
    alerts: list[Alert] = Field(description="Every alert about the customer, newest first")
    notifications: list[NotificationRecord] = Field(
        description="The messages queued or sent to the customer that are still recorded, "
        "oldest first"
    )
    erasures: list[Erasure] = Field(description="Every erasure of their data, oldest first")
    retention: list[Retention]


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
