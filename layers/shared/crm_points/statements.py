"""A customer's points statement for a period (docs/api.md, "Statements"): the opening
balance, every entry posted in the period, the closing balance, what the period earned,
redeemed and expired, and when the points held expire. Pure: the ledger's entries and the
account come in, read by `ledger_store.LedgerStore.read_statement`.

A statement is cut by the day each entry was posted on (`LedgerEntry.posted_on`), which
never goes back in a customer's ledger: the entries of a period are one run of it, so
`opening + the entries = closing` exactly, whatever the period.
"""

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime

from pydantic import Field

from crm_points.errors import ValidationFailed
from crm_points.records import (
    Account,
    CamelModel,
    LedgerEntry,
    TransactionType,
    UtcDateTime,
)
from crm_points.validation import business_day

# The longest period a statement covers: a year, leap day included.
MAX_STATEMENT_DAYS = 366
# The most entries one statement holds. A statement is one answer (Lambda answers at most
# 6 MB): 2,000 lines of about 0.4 KB are 0.8 MB of JSON, and reading them ≈ 2,000 x 0.6 KB
# / 4 KB ≈ 300 read units. Far above a customer's year (docs/capacity.md, "Statements").
MAX_STATEMENT_ENTRIES = 2_000


class StatementLine(CamelModel):
    """One entry of the period, as the statement prints it."""

    transaction_id: str
    created_at: UtcDateTime = Field(description="When the movement happened")
    posted_on: date = Field(description="The business day it was posted on (the statement's)")
    type: TransactionType
    points: int
    balance_after: int
    description: str
    reason: str
    booking_id: str | None = None


class StatementTotals(CamelModel):
    """What the period's entries did, by kind: closing = opening + earned - redeemed -
    deducted - expired + recovered + reversed."""

    earned: int = Field(description="EARN and AWARD")
    redeemed: int = Field(description="REDEEM, as a positive number")
    deducted: int = Field(description="DEDUCT, as a positive number")
    expired: int = Field(description="EXPIRE, as a positive number")
    recovered: int = Field(description="RECOVER: expired points brought back")
    reversed: int = Field(
        description="REVERSAL, signed: a cancelled or refunded booking's earn taken back "
        "(negative) and its redemption given back (positive)"
    )


class ScheduledExpiry(CamelModel):
    """Points held that expire at the end of one business day."""

    expiry_date: date
    points: int


class ExpirationSchedule(CamelModel):
    """The points the customer holds by the day they expire, as at `as_of`."""

    as_of: UtcDateTime = Field(
        description="When the schedule holds: the statement's making. It is the schedule at "
        "the period's end for a period that ends today or later; for an earlier period, the "
        "schedule as it stands now (lots are not kept as they were)"
    )
    total: int
    expirations: list[ScheduledExpiry]


class Statement(CamelModel):
    """A customer's statement of one period (`from` to `to`, business days, inclusive)."""

    customer_id: str
    business_name: str = Field(description="The business the statement is from (§10 setting)")
    period_from: date = Field(alias="from")
    period_to: date = Field(alias="to")
    generated_at: UtcDateTime
    opening_balance: int
    closing_balance: int
    totals: StatementTotals
    entries: list[StatementLine]
    expiration_schedule: ExpirationSchedule


def require_period(first: date, last: date) -> None:
    """A period of at least a day and at most MAX_STATEMENT_DAYS, else a 422."""
    if last < first:
        raise ValidationFailed(
            "to must be the same day as from or later",
            {"field": "to", "from": first.isoformat(), "to": last.isoformat()},
        )
    if (last - first).days + 1 > MAX_STATEMENT_DAYS:
        raise ValidationFailed(
            f"A statement covers at most {MAX_STATEMENT_DAYS} days; ask for a shorter period",
            {"field": "to", "from": first.isoformat(), "to": last.isoformat()},
        )


def posted_on(entry: LedgerEntry) -> date:
    """The business day an entry was posted on; an entry written before posting days were
    kept, its own day."""
    return entry.posted_on or business_day(entry.created_at)


def totals(entries: Sequence[LedgerEntry]) -> StatementTotals:
    """The period's movements by kind."""
    by_type: dict[TransactionType, int] = defaultdict(int)
    for entry in entries:
        by_type[entry.type] += entry.points
    return StatementTotals(
        earned=by_type[TransactionType.EARN] + by_type[TransactionType.AWARD],
        redeemed=-by_type[TransactionType.REDEEM],
        deducted=-by_type[TransactionType.DEDUCT],
        expired=-by_type[TransactionType.EXPIRE],
        recovered=by_type[TransactionType.RECOVER],
        reversed=by_type[TransactionType.REVERSAL],
    )


def schedule(account: Account, now: datetime) -> ExpirationSchedule:
    """The account's lots summed by the day they expire, soonest first."""
    by_day: dict[date, int] = defaultdict(int)
    for lot in account.lots:
        by_day[business_day(lot.expires_at)] += lot.remaining_points
    return ExpirationSchedule(
        as_of=now,
        total=sum(by_day.values()),
        expirations=[ScheduledExpiry(expiry_date=d, points=p) for d, p in sorted(by_day.items())],
    )


def statement(
    account: Account,
    entries: Sequence[LedgerEntry],
    balance_before: int,
    first: date,
    last: date,
    now: datetime,
    business_name: str,
) -> Statement:
    """The statement of the entries posted from `first` to `last` (one run of the ledger,
    in order), opening at `balance_before`: the balance before the first of them, or the
    balance throughout a period without entries."""
    closing = entries[-1].balance_after if entries else balance_before
    return Statement(
        customer_id=account.customer_id,
        business_name=business_name,
        period_from=first,
        period_to=last,
        generated_at=now,
        opening_balance=balance_before,
        closing_balance=closing,
        totals=totals(entries),
        entries=[
            StatementLine(
                transaction_id=entry.transaction_id,
                created_at=entry.created_at,
                posted_on=posted_on(entry),
                type=entry.type,
                points=entry.points,
                balance_after=entry.balance_after,
                description=entry.description,
                reason=entry.reason,
                booking_id=entry.booking_id,
            )
            for entry in entries
        ],
        expiration_schedule=schedule(account, now),
    )


def _cell(text: str) -> str:
    """Text as a spreadsheet shows it, never as a formula it would run (=, +, -, @)."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def statement_csv(report: Statement) -> str:
    """The statement as CSV: its opening balance, a row per entry, its closing balance."""
    out = io.StringIO()
    rows = csv.writer(out, lineterminator="\n")
    rows.writerow(
        [
            "posted_on",
            "created_at",
            "transaction_id",
            "type",
            "points",
            "balance_after",
            "description",
            "reason",
        ]
    )
    rows.writerow([report.period_from.isoformat(), "", "", "OPENING", "", report.opening_balance])
    for line in report.entries:
        rows.writerow(
            [
                line.posted_on.isoformat(),
                line.model_dump(mode="json")["created_at"],
                line.transaction_id,
                line.type.value,
                line.points,
                line.balance_after,
                _cell(line.description),
                _cell(line.reason),
            ]
        )
    rows.writerow([report.period_to.isoformat(), "", "", "CLOSING", "", report.closing_balance])
    return out.getvalue()
