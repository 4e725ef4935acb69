"""The published form of a ledger entry: what the API answers and the points events carry,
mapped field by field from the stored entry (`records.LedgerEntry`). Its own small module
so that the change stream's consumer imports it without the API's other models."""

from collections.abc import Sequence
from datetime import date

from pydantic import Field

from crm_points.records import (
    Actor,
    Allocation,
    CamelModel,
    LedgerEntry,
    LotMerge,
    TransactionType,
    UtcDateTime,
)


class PointTransaction(CamelModel):
    """A ledger entry as the API answers it and the points events carry it (SPEC §2.5).

    Mapped by `of` from the stored entry: a field the table gains fails
    tests/unit/test_api_models.py until it is published here or named private there, and
    tests/contracts/ fails a change that removes or retypes a published one.
    """

    transaction_id: str = Field(description="The entry's id")
    customer_id: str
    sequence: int = Field(description="The entry's number in the account, from 1, no gaps")
    type: TransactionType
    points: int = Field(description="Signed: credits positive, debits negative")
    balance_after: int = Field(description="The account's balance once this entry was made")
    description: str
    reason: str
    actor: Actor = Field(description="Who made it: the token's subject and role, or system")
    created_at: UtcDateTime
    request_id: str = Field(description="The API request or the event that made it")
    booking_id: str | None = None
    allocations: list[Allocation] = Field(
        default_factory=list, description="A debit: the points it took from each lot"
    )
    point_batch_id: str | None = Field(default=None, description="A credit: the lot it made")
    expires_at: UtcDateTime | None = None
    settled_debt: int = Field(
        default=0, description="A credit: its points that paid back a negative balance"
    )
    notify_customer: bool = Field(
        default=False, description="AWARD: the customer is to be told (pointsAwarded)"
    )
    approval_id: str | None = Field(
        default=None, description="DEDUCT: the approval under which it was made"
    )
    already_expired: int = Field(
        default=0, description="REVERSAL of an EARN: its points that had expired, not taken again"
    )
    related_transaction_id: str | None = None
    old_expiry_date: UtcDateTime | None = None
    new_expiry_date: UtcDateTime | None = None
    merged_lots: list[LotMerge] = Field(
        default_factory=list,
        description="Lots that came to expire on the same day as another and joined it",
    )
    issue_months: dict[str, int] | None = Field(
        default=None,
        description="A credit: its points by the month (YYYY-MM) they were first issued in, "
        "their cohort (docs/finance.md); a returned credit names the months it gives back",
    )

    booking_amount_cents: int | None = Field(
        default=None,
        description="The entries a completed booking made: the booking's amount in cents, "
        "what its EARN was worked out from and what its refunds are shares of",
    )
    refund_id: str | None = Field(
        default=None,
        description="REVERSAL made by a partial refund (`Booking Refunded`): the refund's id",
    )
    posted_on: date | None = Field(
        default=None,
        description="The business day (Africa/Johannesburg) the entry was posted on: its "
        "`createdAt`'s day, or the day of the entry before it if that is later (an event "
        'applied late). Statements are cut by it (docs/api.md, "Statements")',
    )

    @classmethod
    def of(cls, entry: LedgerEntry) -> "PointTransaction":
        """The published form of a stored entry. The stored entry was validated when it was
        read or made, so its values are taken as they are; a public field the stored entry
        lacks fails here (AttributeError)."""
        return cls.model_construct(**{name: getattr(entry, name) for name in cls.model_fields})


def published(entries: Sequence[LedgerEntry]) -> list[PointTransaction]:
    """Stored entries in their published form, in order."""
    return [PointTransaction.of(entry) for entry in entries]
