"""The ledger's records: accounts with their active lots, and immutable ledger entries.

Field names are snake_case in Python and camelCase on the wire and in DynamoDB, as in the
seed's interfaces. Times are timezone-aware UTC and serialise as `2026-01-31T09:00:00.000Z`,
a fixed-width form that sorts as text.
"""

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, model_validator
from pydantic.alias_generators import to_camel

from crm_points.validation import as_utc, month_of


def iso_utc(moment: datetime) -> str:
    """Fixed-width UTC text for a moment, millisecond precision, sortable as a string."""
    utc = moment.astimezone(UTC)  # the year padded: strftime writes the year 708 as "708"
    return f"{utc.year:04d}" + utc.strftime("-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _require_timezone(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("a date-time needs a timezone (for example Z or +02:00)")
    return as_utc(moment)


UtcDateTime = Annotated[
    datetime,
    AfterValidator(_require_timezone),
    PlainSerializer(iso_utc, return_type=str, when_used="json"),
]


class CamelModel(BaseModel):
    """Base of every record: camelCase aliases, unknown fields rejected.

    Validators and serializers are built when a model is first used, not when its module is
    imported: a function uses a few of the layer's fifty models, and building them all took
    about 16 ms of every cold start (docs/operations.md, "Cold starts").
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", defer_build=True
    )


class TransactionType(StrEnum):
    EARN = "EARN"
    AWARD = "AWARD"
    DEDUCT = "DEDUCT"
    REDEEM = "REDEEM"
    EXPIRE = "EXPIRE"
    RECOVER = "RECOVER"
    EXPIRY_EXTENDED = "EXPIRY_EXTENDED"
    REVERSAL = "REVERSAL"


class LotStatus(StrEnum):
    ACTIVE = "ACTIVE"
    CONSUMED = "CONSUMED"
    EXPIRED = "EXPIRED"


class Actor(CamelModel):
    """Who made an entry: a verified token's subject and role, or the system."""

    user_id: str
    role: str | None = None


SYSTEM = Actor(user_id="system")


class Allocation(CamelModel):
    """Points a debit took from one lot."""

    point_batch_id: str
    points: int
    issue_months: dict[str, int] = Field(
        default_factory=dict,
        description="The points taken, by the month (YYYY-MM) they were issued in: their "
        "cohort (empty in entries written before cohorts were kept)",
    )


class LotMerge(CamelModel):
    """A lot that joined another because both came to expire on the same day (rolling
    expiry, an extension): its points are the other's from then on."""

    point_batch_id: str
    merged_into: str
    points: int
    issue_months: dict[str, int] = Field(
        default_factory=dict, description="Its points, by the month they were issued in"
    )


class Lot(CamelModel):
    """The points of one customer that expire on one day, spendable until `expires_at`
    (SPEC §2.2): made by the first credit of that day, joined by later ones."""

    point_batch_id: str
    original_points: int
    remaining_points: int
    earned_at: UtcDateTime
    expires_at: UtcDateTime
    status: LotStatus = LotStatus.ACTIVE
    transaction_id: str
    reminded_for: UtcDateTime | None = Field(
        default=None,
        description="The expiry the customer was reminded of (pointsExpiring); a lot whose "
        "expiry moved later since is reminded again",
    )
    issue_months: dict[str, int] = Field(
        default_factory=dict,
        description="The remaining points by the month (YYYY-MM) they were issued in "
        "(crm_points.cohorts); they sum to remainingPoints",
    )

    @model_validator(mode="after")
    def _months_of_an_older_lot(self) -> "Lot":
        # A lot stored before cohorts were kept: its points are its first credit's month's.
        if not self.issue_months and self.remaining_points > 0:
            self.issue_months = {month_of(self.earned_at): self.remaining_points}
        return self

    @property
    def needs_reminder(self) -> bool:
        return self.reminded_for is None or self.reminded_for < self.expires_at


class ExpiredPoints(CamelModel):
    """An EXPIRE entry not yet recovered: what recovery and reinstatement may bring back,
    lot by lot (a cancelled booking's lot is taken out of it, see `reverse_booking`)."""

    transaction_id: str
    points: int
    expired_at: UtcDateTime
    allocations: list[Allocation] = Field(default_factory=list)


class LotQuarter(CamelModel):
    """An account's lots that expire in one calendar quarter (Africa/Johannesburg), summed."""

    quarter: str = Field(description="As 2028-Q3")
    points: int
    lots: int
    first_expiry: UtcDateTime
    last_expiry: UtcDateTime


class AccountPage(CamelModel):
    """One page of an account as the account item names it (crm_points.ledger_store keeps the lots
    and the recoverable expiries in pages of their own, one per quarter): the account
    version it was last written at, and for a page of lots, what it holds in sum."""

    page: str
    version: int
    lots: LotQuarter | None = None


class Account(CamelModel):
    """A customer's balance figures, ACTIVE lots and recoverable expiries, as one record.

    `version` is the optimistic-concurrency counter; `entry_count` numbers the entries, so
    history sorts in the order the entries were committed. `pages` belongs to the store: it
    names the pages the lots and expiries were read from; the ledger leaves it alone.
    """

    customer_id: str
    current_balance: int = 0
    lifetime_earned: int = 0
    lifetime_redeemed: int = 0
    lifetime_expired: int = 0
    version: int = 0
    entry_count: int = 0
    lots: list[Lot] = Field(default_factory=list)
    unrecovered_expiries: list[ExpiredPoints] = Field(default_factory=list)
    created_at: UtcDateTime
    updated_at: UtcDateTime
    pages: list[AccountPage] = Field(default_factory=list)
    # The business day of the latest posting (None: none since days were kept): the next is
    # posted on that day or later (LedgerEntry.posted_on).
    posted_through: date | None = None


class LedgerEntry(CamelModel):
    """One immutable ledger entry (SPEC §2.5)."""

    transaction_id: str
    customer_id: str
    sequence: int
    type: TransactionType
    points: int
    balance_after: int
    description: str
    reason: str
    actor: Actor
    created_at: UtcDateTime
    request_id: str
    booking_id: str | None = None
    allocations: list[Allocation] = Field(default_factory=list)
    point_batch_id: str | None = None
    expires_at: UtcDateTime | None = None
    settled_debt: int = 0
    # What each field means to a reader is said once, on the published form
    # (published.PointTransaction).
    notify_customer: bool = False
    approval_id: str | None = None
    already_expired: int = 0
    related_transaction_id: str | None = None
    old_expiry_date: UtcDateTime | None = None
    new_expiry_date: UtcDateTime | None = None
    merged_lots: list[LotMerge] = Field(default_factory=list)
    # A credit's points by issue month; a debit names its months in its allocations. None,
    # not an empty map: a stream image of an empty map is not read back everywhere.
    issue_months: dict[str, int] | None = None
    booking_amount_cents: int | None = None
    refund_id: str | None = None
    posted_on: date | None = None


class PostingResult(CamelModel):
    """What a ledger write answers, and what a replay of the same request answers again."""

    customer_id: str
    transactions: list[LedgerEntry]
    current_balance: int
    replayed: bool = False


class BookingRefunds(CamelModel):
    """What a booking's partial refunds took so far (SPEC §5, `Booking Refunded`): the
    cents refunded, and the points of its EARN reversed and of its REDEEM given back."""

    refunds: int = 0
    refunded_cents: int = 0
    earn_reversed: int = 0
    redeem_returned: int = 0


class ApprovalStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"


class Approval(CamelModel):
    """A deduction waiting for (or given) a second person's decision (SPEC §4)."""

    approval_id: str
    customer_id: str
    amount: int
    reason: str
    allow_negative: bool = False
    status: ApprovalStatus = ApprovalStatus.PENDING
    requested_by: Actor
    requested_at: UtcDateTime
    decided_by: Actor | None = None
    decided_at: UtcDateTime | None = None
    decision_reason: str | None = None
    transaction_id: str | None = Field(
        default=None, description="The DEDUCT entry made when the approval was approved"
    )


class CustomerProfile(CamelModel):
    """Who a customer is and how they may be told (kept up to date by booking events)."""

    customer_id: str
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    notify_email: bool = True
    notify_sms: bool = True
    updated_at: UtcDateTime
    erased_at: UtcDateTime | None = Field(
        default=None,
        description="Set when the customer's personal data was erased (POST "
        "/customers/{customerId}/erase): no contact details are kept and nothing is sent "
        "until the booking system sends them again with the customer's consent",
    )


class Erasure(CamelModel):
    """An erasure of a customer's personal data (POPIA, docs/security.md): who made it, when
    and why, and what it took out. Kept for good, as the audit of the erasure."""

    customer_id: str
    erased_at: UtcDateTime
    erased_by: Actor
    reason: str = Field(description="Why, as the admin gave it (the customer's details taken out)")
    removed_fields: list[str] = Field(
        description="The profile's personal fields that held a value and were removed"
    )
    rewritten_alerts: list[str] = Field(
        default_factory=list,
        description="The alerts whose text named the customer, by id; that text now reads [erased]",
    )
    redacted_transactions: list[str] = Field(
        default_factory=list,
        description="The ledger entries whose reason or description named the customer, by "
        "transactionId; that text now reads [erased], their amounts, dates and ids as they were",
    )


class ReminderLot(CamelModel):
    """A lot a pointsExpiring reminder told the customer about."""

    point_batch_id: str
    points: int
    expires_at: UtcDateTime


class ExpiringReminder(CamelModel):
    """One customer's pointsExpiring reminder of one run (SPEC §6 expiring-reminders): the
    lots that entered the expiring window since the customer was last reminded."""

    customer_id: str
    run_time: UtcDateTime
    points: int
    expires_at: UtcDateTime = Field(description="When the soonest of the lots expires")
    lots: list[ReminderLot]
