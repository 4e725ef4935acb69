"""The ledger rules of SPEC §2 as pure functions of an account's state.

Each movement takes the account as read (or None for a customer with no account yet) and
returns a `Posting`: the account as it must be written and the entries to append. Nothing
here does I/O; `crm_points.ledger_service` writes a posting as one DynamoDB transaction.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from enum import Enum

from crm_points import cohorts
from crm_points.config import PointsConfig
from crm_points.errors import (
    Conflict,
    InsufficientPoints,
    NotFound,
    RefundExceedsBooking,
    ValidationFailed,
)
from crm_points.records import (
    Account,
    Actor,
    Allocation,
    BookingRefunds,
    ExpiredPoints,
    ExpiringReminder,
    LedgerEntry,
    Lot,
    LotMerge,
    ReminderLot,
    TransactionType,
)
from crm_points.validation import (
    EXPIRY_HORIZON,
    business_day,
    end_of_business_day,
    latest_expiry,
    month_of,
)

# Entries one posting may append. One transaction holds at most 100 items: the account, the
# idempotency record, at most three condition checks, the marker of the day it posts on,
# the entries, and the account's pages that change (at most 44 lot pages, and one page of
# expiries per entry); 6 + 20 + 44 + 20 = 90. The arithmetic is in docs/capacity.md.
MAX_ENTRIES_PER_POSTING = 20


class Figure(Enum):
    """The lifetime figure a movement changes (SPEC §2.1)."""

    EARNED = "earned"
    REDEEMED = "redeemed"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Context:
    """Who asks, when, and under which rules: the same for every entry of one posting."""

    now: datetime
    actor: Actor
    request_id: str
    config: PointsConfig


@dataclass
class Posting:
    """An account's new state, the entries that got it there, and the account as it was read
    (None for a new account): the store writes only the parts of the account that changed."""

    account: Account
    entries: list[LedgerEntry] = field(default_factory=list)
    before: Account | None = None

    @property
    def previous_version(self) -> int | None:
        """The version the account was read at: the write's optimistic-concurrency check."""
        return self.before.version if self.before else None


def new_id(moment: datetime) -> str:
    """A ULID: unique and sortable by creation time."""
    # Imported by the first write, not at import: the read functions never make an id.
    from ulid import ULID

    return str(ULID.from_datetime(moment))


def fifo_order(lots: Iterable[Lot]) -> list[Lot]:
    """Lots in consumption order: soonest-expiring first, ties oldest first (SPEC §2.3).

    The account keeps its lots in the order they were created, and the sort is stable, so
    lots earned at the same moment are taken in creation order.
    """
    return sorted(lots, key=lambda lot: (lot.expires_at, lot.earned_at))


def points_for_booking(amount_cents: int, config: PointsConfig) -> int:
    """EARN points for a booking: floor(amountCents / 100 * earnRate) (SPEC §5)."""
    exact = Decimal(amount_cents) * config.earn_rate / Decimal(100)
    return int(exact.to_integral_value(rounding=ROUND_FLOOR))


class _Book:
    """A working copy of one account to which a posting's entries are applied in order."""

    def __init__(self, account: Account | None, customer_id: str, ctx: Context) -> None:
        self.ctx = ctx
        self.before = account
        if account is None:
            account = Account(customer_id=customer_id, created_at=ctx.now, updated_at=ctx.now)
        else:
            account = account.model_copy(deep=True)
        self.account = account
        self.entries: list[LedgerEntry] = []

    def posting(self) -> Posting:
        if not self.entries:
            raise ValueError("a posting needs at least one entry")
        if len(self.entries) > MAX_ENTRIES_PER_POSTING:
            raise ValueError("too many entries for one transaction")
        self.account.version += 1
        self.account.updated_at = self.ctx.now
        # Posted days never go back, so a statement's days are whole runs of the ledger.
        day = business_day(self.ctx.now)
        if self.account.posted_through is not None:
            day = max(day, self.account.posted_through)
        self.account.posted_through = day
        for entry in self.entries:
            entry.posted_on = day
        return Posting(self.account, self.entries, self.before)

    def _adjust(self, figure: Figure, balance_change: int) -> None:
        account = self.account
        account.current_balance += balance_change
        if figure is Figure.EARNED:
            account.lifetime_earned += balance_change
        elif figure is Figure.REDEEMED:
            account.lifetime_redeemed -= balance_change
        else:
            account.lifetime_expired -= balance_change

    def record(self, kind: TransactionType, points: int, **fields: object) -> LedgerEntry:
        self.account.entry_count += 1
        entry = LedgerEntry.model_validate(
            {
                "transaction_id": new_id(self.ctx.now),
                "customer_id": self.account.customer_id,
                "sequence": self.account.entry_count,
                "type": kind,
                "points": points,
                "balance_after": self.account.current_balance,
                "actor": self.ctx.actor,
                "created_at": self.ctx.now,
                "request_id": self.ctx.request_id,
                **fields,
            }
        )
        self.entries.append(entry)
        return entry

    def credit(
        self,
        kind: TransactionType,
        points: int,
        figure: Figure,
        *,
        expires_at: datetime,
        description: str,
        reason: str,
        earned_at: datetime | None = None,
        booking_id: str | None = None,
        related_transaction_id: str | None = None,
        issue_months: cohorts.Months | None = None,
    ) -> LedgerEntry:
        """Add points to the lot of their expiry day, made if there is none; a debt is
        settled first (SPEC §2.8), by the oldest of them.

        `issue_months`: the points by the month they were first issued in, for points
        given back (a recovery, a returned redemption); new points are this month's.
        """
        expires_at = end_of_business_day(expires_at)
        _require_within_horizon(expires_at, self.ctx.now, "expiresAt")
        debt = max(0, -self.account.current_balance)
        settled = min(points, debt)
        months = issue_months or {month_of(self.ctx.now): points}
        if cohorts.total(months) != points:
            raise ValueError("a credit's months must hold its points")
        _, kept = cohorts.settled_and_kept(months, settled)
        lot = next((x for x in self.account.lots if x.expires_at == expires_at), None)
        lot_id = lot.point_batch_id if lot else new_id(self.ctx.now)
        self._adjust(figure, points)
        entry = self.record(
            kind,
            points,
            description=description,
            reason=reason,
            booking_id=booking_id,
            point_batch_id=lot_id,
            expires_at=expires_at,
            settled_debt=settled,
            related_transaction_id=related_transaction_id,
            issue_months=months,
        )
        earned = earned_at or self.ctx.now
        if points == settled:
            return entry
        if lot is None:
            self.account.lots.append(
                Lot(
                    point_batch_id=lot_id,
                    original_points=points,
                    remaining_points=points - settled,
                    earned_at=earned,
                    expires_at=expires_at,
                    transaction_id=entry.transaction_id,
                    issue_months=kept,
                )
            )
        else:
            lot.original_points += points
            lot.remaining_points += points - settled
            lot.earned_at = min(lot.earned_at, earned)
            lot.issue_months = cohorts.joined(lot.issue_months, kept)
        return entry

    def merge_same_day(self, keep: str | None = None) -> list[LotMerge]:
        """Make lots that expire on the same day one lot. The lot that stays is `keep` where
        it is among them, else the one spent first (the oldest); the others' points join it.
        """
        merges: list[LotMerge] = []
        by_expiry: dict[datetime, Lot] = {}
        for lot in fifo_order(self.account.lots):
            kept = by_expiry.setdefault(lot.expires_at, lot)
            if kept is lot:
                continue
            if lot.point_batch_id == keep:
                by_expiry[lot.expires_at], kept, lot = lot, lot, kept
            merges.append(
                LotMerge(
                    point_batch_id=lot.point_batch_id,
                    merged_into=kept.point_batch_id,
                    points=lot.remaining_points,
                    issue_months=lot.issue_months,
                )
            )
            kept.original_points += lot.original_points
            kept.remaining_points += lot.remaining_points
            kept.issue_months = cohorts.joined(kept.issue_months, lot.issue_months)
            kept.earned_at = min(kept.earned_at, lot.earned_at)
            if lot.reminded_for is None or kept.reminded_for is None:
                kept.reminded_for = None
            else:
                kept.reminded_for = min(kept.reminded_for, lot.reminded_for)
        absorbed = {merge.point_batch_id for merge in merges}
        self.account.lots = [lot for lot in self.account.lots if lot.point_batch_id not in absorbed]
        return merges

    def debit(
        self,
        kind: TransactionType,
        points: int,
        figure: Figure,
        *,
        description: str,
        reason: str,
        allow_negative: bool = False,
        first_lot: str | None = None,
        first_month: str | None = None,
        booking_id: str | None = None,
        related_transaction_id: str | None = None,
        already_expired: int = 0,
    ) -> LedgerEntry:
        """Take points from the lots in FIFO order, each lot's oldest issue month first;
        only `allow_negative` may overdraw. `first_lot` is drawn first, and within every lot
        the month `first_month` first (a cancelled booking's own earn, wherever a merge has
        put its points)."""
        available = sum(lot.remaining_points for lot in self.account.lots)
        if points > available and not allow_negative:
            raise InsufficientPoints(available=available, requested=points)
        order = fifo_order(self.account.lots)
        if first_lot is not None:
            order.sort(key=lambda lot: lot.point_batch_id != first_lot)
        allocations: list[Allocation] = []
        wanted = points
        for lot in order:
            if wanted == 0:
                break
            taken = min(wanted, lot.remaining_points)
            if taken == 0:
                continue
            lot.remaining_points -= taken
            wanted -= taken
            months = cohorts.take(lot.issue_months, taken, first_month)
            allocations.append(
                Allocation(point_batch_id=lot.point_batch_id, points=taken, issue_months=months)
            )
        self.account.lots = [lot for lot in self.account.lots if lot.remaining_points > 0]
        self._adjust(figure, -points)
        return self.record(
            kind,
            -points,
            description=description,
            reason=reason,
            allocations=allocations,
            booking_id=booking_id,
            related_transaction_id=related_transaction_id,
            already_expired=already_expired,
        )

    def expire_due(self, as_of: datetime) -> LedgerEntry | None:
        """Expire every lot whose `expires_at` is at or before `as_of` (SPEC §2.6)."""
        due = fifo_order(lot for lot in self.account.lots if lot.expires_at <= as_of)
        points = sum(lot.remaining_points for lot in due)
        if points == 0:
            return None
        expired_ids = {lot.point_batch_id for lot in due}
        self.account.lots = [
            lot for lot in self.account.lots if lot.point_batch_id not in expired_ids
        ]
        self._adjust(Figure.EXPIRED, -points)
        entry = self.record(
            TransactionType.EXPIRE,
            -points,
            description=f"{points:,} points expired",
            reason="Points reached their expiry date",
            allocations=[
                Allocation(
                    point_batch_id=lot.point_batch_id,
                    points=lot.remaining_points,
                    issue_months=dict(lot.issue_months),
                )
                for lot in due
            ],
        )
        self.account.unrecovered_expiries.append(
            ExpiredPoints(
                transaction_id=entry.transaction_id,
                points=points,
                expired_at=as_of,
                allocations=[allocation.model_copy(deep=True) for allocation in entry.allocations],
            )
        )
        return entry

    def forget_expired(self, point_batch_id: str, at_most: int, month: str) -> int:
        """Take up to `at_most` of one lot's expired, unrecovered points out of the
        recoverable expiries.

        They expired, so the customer has already lost them; a cancelled booking must not
        take them again, and no one may recover points of a cancelled booking. The points
        are un-earned and un-expired at once, which leaves the balance as it is. A lot holds
        the points of every credit of its day, so a booking's share of it is at most what
        the booking earned; those of the booking's `month` are taken first.
        """
        forgotten = 0
        for expired in self.account.unrecovered_expiries:
            for allocation in expired.allocations:
                if allocation.point_batch_id != point_batch_id or forgotten == at_most:
                    continue
                taken = min(allocation.points, at_most - forgotten)
                months = cohorts.allocation_months(allocation, month_of(expired.expired_at))
                cohorts.take(months, taken, month)
                allocation.issue_months = months
                allocation.points -= taken
                expired.points -= taken
                forgotten += taken
            expired.allocations = [a for a in expired.allocations if a.points > 0]
        self.account.unrecovered_expiries = [
            expired for expired in self.account.unrecovered_expiries if expired.points > 0
        ]
        self.account.lifetime_earned -= forgotten
        self.account.lifetime_expired -= forgotten
        return forgotten

    def recover(
        self, expire_transaction_id: str, new_expiry: datetime, description: str, reason: str
    ) -> LedgerEntry:
        """Bring back the points of one EXPIRE entry as a new lot, once (SPEC §2.4)."""
        expired = next(
            (
                item
                for item in self.account.unrecovered_expiries
                if item.transaction_id == expire_transaction_id
            ),
            None,
        )
        if expired is None:
            raise Conflict(
                "These expired points were already recovered",
                {"transactionId": expire_transaction_id},
            )
        self.account.unrecovered_expiries.remove(expired)
        return self.credit(
            TransactionType.RECOVER,
            expired.points,
            Figure.EXPIRED,
            expires_at=new_expiry,
            description=description,
            reason=reason,
            related_transaction_id=expire_transaction_id,
            issue_months=cohorts.joined(
                *(
                    cohorts.allocation_months(allocation, month_of(expired.expired_at))
                    for allocation in expired.allocations
                )
            ),
        )

    def roll_expiry(self, floor: datetime) -> list[LotMerge]:
        """Keep every active lot alive until at least `floor`'s day (SPEC §2.7 rolling
        expiry); the lots that now end on that day become one."""
        floor = end_of_business_day(floor)
        for lot in self.account.lots:
            lot.expires_at = max(lot.expires_at, floor)
        return self.merge_same_day()


def _require_future(moment: datetime, now: datetime, field_name: str) -> None:
    if moment <= now:
        raise ValidationFailed(
            f"{field_name} must be in the future", {"field": field_name, "value": str(moment)}
        )


def _require_within_horizon(moment: datetime, now: datetime, field_name: str) -> None:
    """No lot may expire beyond the horizon: it bounds the pages an account's lots span."""
    latest = latest_expiry(now)
    if moment > latest:
        raise ValidationFailed(
            f"{field_name} must be at most {EXPIRY_HORIZON.days:,} days ahead",
            {"field": field_name, "value": moment.isoformat(), "latest": latest.isoformat()},
        )


def _require_account(account: Account | None, customer_id: str) -> Account:
    if account is None:
        raise NotFound(f"Customer {customer_id} has no points account", {"customerId": customer_id})
    return account


def award(
    account: Account | None,
    ctx: Context,
    *,
    customer_id: str,
    amount: int,
    reason: str,
    expiry_date: datetime | None = None,
    notify_customer: bool = False,
) -> Posting:
    """AWARD bonus points; an unknown customer gets an account (a sign-up bonus, §2.1)."""
    expires_at = expiry_date or ctx.now + timedelta(days=ctx.config.validity_days)
    _require_future(expires_at, ctx.now, "expiryDate")
    book = _Book(account, customer_id, ctx)
    entry = book.credit(
        TransactionType.AWARD,
        amount,
        Figure.EARNED,
        expires_at=expires_at,
        description=f"Bonus points: {reason}",
        reason=reason,
    )
    entry.notify_customer = notify_customer
    return book.posting()


def deduct(
    account: Account | None,
    ctx: Context,
    *,
    customer_id: str,
    amount: int,
    reason: str,
    allow_negative: bool = False,
    approval_id: str | None = None,
) -> Posting:
    """DEDUCT points; overdrawing needs `allow_negative` (SPEC §2.8). A deduction made
    under an approval names it."""
    book = _Book(_require_account(account, customer_id), customer_id, ctx)
    entry = book.debit(
        TransactionType.DEDUCT,
        amount,
        Figure.REDEEMED,
        description=f"Points deducted: {reason}",
        reason=reason,
        allow_negative=allow_negative,
    )
    entry.approval_id = approval_id
    return book.posting()


def redeem(
    account: Account | None,
    ctx: Context,
    *,
    customer_id: str,
    amount: int,
    reason: str,
    booking_id: str | None = None,
) -> Posting:
    """REDEEM points, never overdrawing (SPEC §2.3)."""
    book = _Book(_require_account(account, customer_id), customer_id, ctx)
    description = f"Redeemed on booking {booking_id}" if booking_id else f"Redeemed: {reason}"
    book.debit(
        TransactionType.REDEEM,
        amount,
        Figure.REDEEMED,
        description=description,
        reason=reason,
        booking_id=booking_id,
    )
    return book.posting()


def complete_booking(
    account: Account | None,
    ctx: Context,
    *,
    customer_id: str,
    booking_id: str,
    completed_at: datetime,
    amount_cents: int,
    points_redeemed: int = 0,
) -> Posting | None:
    """A completed booking's effects as one posting (SPEC §2.7, §5): all of them or none;
    None when it moves no points (under R1, nothing to bring back, no redemption).

    Effects are computed as of `completed_at`, the booking system's clock. Every active lot
    first lives at least `validityDays` past the booking (rolling expiry); points that
    expired within `reinstatementDays` before it come back (RECOVER, actor system); then the
    EARN; then the REDEEM made at checkout, if any, which may spend what the booking earned.
    """
    config = ctx.config
    book = _Book(account, customer_id, ctx)
    keep_until = completed_at + timedelta(days=config.validity_days)
    # Rolling first, so that what the booking brings back or earns joins the rolled lot.
    merges = book.roll_expiry(keep_until) if config.rolling_expiry else []
    if config.reinstatement_days > 0:
        window_start = completed_at - timedelta(days=config.reinstatement_days)
        reinstatable = [
            item
            for item in book.account.unrecovered_expiries
            if window_start <= item.expired_at <= completed_at
        ]
        room = MAX_ENTRIES_PER_POSTING - 1 - (1 if points_redeemed else 0)
        for item in reinstatable[:room]:
            book.recover(
                item.transaction_id,
                keep_until,
                description=f"{item.points:,} expired points reinstated by booking {booking_id}",
                reason=f"Booking {booking_id} completed within {config.reinstatement_days} days",
            )
    points = points_for_booking(amount_cents, config)
    if points > 0:
        earn = book.credit(
            TransactionType.EARN,
            points,
            Figure.EARNED,
            expires_at=keep_until,
            earned_at=completed_at,
            description=f"Earned on booking {booking_id}",
            reason="Booking completed",
            booking_id=booking_id,
        )
        earn.booking_amount_cents = amount_cents
    if book.entries:
        book.entries[-1].merged_lots = merges
    if points_redeemed:
        redemption = book.debit(
            TransactionType.REDEEM,
            points_redeemed,
            Figure.REDEEMED,
            description=f"Redeemed on booking {booking_id}",
            reason="Points redeemed at checkout",
            booking_id=booking_id,
        )
        redemption.booking_amount_cents = amount_cents
        if len(book.entries) == 1:
            # A booking paid wholly with points earns nothing: its redemption says the merges.
            redemption.merged_lots = merges
    if not book.entries:
        return None
    return book.posting()


def expire(account: Account | None, ctx: Context, *, customer_id: str) -> Posting | None:
    """EXPIRE every lot due at `ctx.now`; None when nothing is due (a repeated run)."""
    if account is None:
        return None
    book = _Book(account, customer_id, ctx)
    if book.expire_due(ctx.now) is None:
        return None
    return book.posting()


def remind_expiring(
    account: Account | None, now: datetime, window_days: int
) -> tuple[Posting, ExpiringReminder] | None:
    """The account with its lots that entered the expiring window marked as reminded (a
    posting without entries), and the reminder to send; None when no lot is due a reminder
    (a repeated run).

    A lot is reminded of once per expiry: if its expiry moves later (a booking, an
    extension), it is reminded again when the new date comes near.
    """
    if account is None:
        return None
    horizon = now + timedelta(days=window_days)
    updated = account.model_copy(deep=True)
    due = [lot for lot in updated.lots if lot.needs_reminder and now < lot.expires_at <= horizon]
    if not due:
        return None
    for lot in due:
        lot.reminded_for = lot.expires_at
    updated.version += 1
    updated.updated_at = now
    reminder = ExpiringReminder(
        customer_id=account.customer_id,
        run_time=now,
        points=sum(lot.remaining_points for lot in due),
        expires_at=min(lot.expires_at for lot in due),
        lots=[
            ReminderLot(
                point_batch_id=lot.point_batch_id,
                points=lot.remaining_points,
                expires_at=lot.expires_at,
            )
            for lot in fifo_order(due)
        ],
    )
    return Posting(updated, [], account), reminder


def recover_expired(
    account: Account | None,
    ctx: Context,
    *,
    customer_id: str,
    expire_transaction_id: str,
    reason: str,
    new_expiry_date: datetime,
) -> Posting:
    """RECOVER the points of one EXPIRE entry by hand (ADMIN); once per entry."""
    _require_future(new_expiry_date, ctx.now, "newExpiryDate")
    book = _Book(_require_account(account, customer_id), customer_id, ctx)
    book.recover(
        expire_transaction_id,
        new_expiry_date,
        description=f"Expired points recovered: {reason}",
        reason=reason,
    )
    return book.posting()


def extend_expiry(
    account: Account | None,
    ctx: Context,
    *,
    customer_id: str,
    point_batch_id: str,
    new_expiry_date: datetime,
    reason: str,
) -> Posting:
    """Move one active lot's expiry later; an EXPIRY_EXTENDED entry audits it (0 points)."""
    _require_future(new_expiry_date, ctx.now, "newExpiryDate")
    new_expiry_date = end_of_business_day(new_expiry_date)
    _require_within_horizon(new_expiry_date, ctx.now, "newExpiryDate")
    book = _Book(_require_account(account, customer_id), customer_id, ctx)
    lot = next((x for x in book.account.lots if x.point_batch_id == point_batch_id), None)
    if lot is None:
        raise Conflict(
            "This point batch is no longer active (spent or expired)",
            {"pointBatchId": point_batch_id},
        )
    if new_expiry_date <= lot.expires_at:
        raise ValidationFailed(
            "newExpiryDate must be later than the batch's current expiry",
            {"field": "newExpiryDate", "currentExpiry": lot.expires_at.isoformat()},
        )
    old_expiry = lot.expires_at
    lot.expires_at = new_expiry_date
    points = lot.remaining_points
    merges = book.merge_same_day(keep=point_batch_id)
    book.record(
        TransactionType.EXPIRY_EXTENDED,
        0,
        description=f"Expiry of {points:,} points extended",
        reason=reason,
        point_batch_id=point_batch_id,
        old_expiry_date=old_expiry,
        new_expiry_date=new_expiry_date,
        merged_lots=merges,
    )
    return book.posting()


@dataclass(frozen=True)
class BookingLedger:
    """What a booking did to the ledger: its EARN and its REDEEM as recorded, the booking's
    amount (None for a booking completed before amounts were kept), and what its partial
    refunds took back so far."""

    earn: LedgerEntry | None
    redeem: LedgerEntry | None
    amount_cents: int | None = None
    refunded: BookingRefunds = field(default_factory=BookingRefunds)

    @property
    def earned(self) -> int:
        return self.earn.points if self.earn else 0

    @property
    def redeemed(self) -> int:
        return -self.redeem.points if self.redeem else 0


def refund_share(points: int, refunded_cents: int, amount_cents: int) -> int:
    """The points of `points` that `refunded_cents` of a booking of `amount_cents` stand for,
    rounded down: refunds reaching the whole amount stand for all of them."""
    return points * refunded_cents // amount_cents


def refunds_after(booking: BookingLedger, booking_id: str, refunded_cents: int) -> BookingRefunds:
    """The booking's refund totals once a refund of `refunded_cents` is added.

    Each total is the share of everything refunded so far, so each refund reverses the
    share of its booking's points that its cents add, and the refund that completes the
    amount takes what remains: the reversals sum exactly to the EARN, whatever the order
    and sizes of the refunds. Refunds that together pass the booking's amount are refused.
    """
    if booking.amount_cents is None:
        raise ValidationFailed(
            f"Booking {booking_id} was completed before booking amounts were kept: "
            "a share of it cannot be worked out",
            {"bookingId": booking_id},
        )
    before = booking.refunded
    total = before.refunded_cents + refunded_cents
    if total > booking.amount_cents:
        raise RefundExceedsBooking(
            booking_id, booking.amount_cents, before.refunded_cents, refunded_cents
        )
    return BookingRefunds(
        refunds=before.refunds + 1,
        refunded_cents=total,
        earn_reversed=refund_share(booking.earned, total, booking.amount_cents),
        redeem_returned=refund_share(booking.redeemed, total, booking.amount_cents),
    )


def _rand(cents: int) -> str:
    return f"R{cents // 100:,}.{cents % 100:02d}"


def _return_redeemed(
    book: _Book,
    booking: BookingLedger,
    booking_id: str,
    points: int,
    description: str,
    reason: str,
    refund_id: str | None = None,
) -> None:
    """A REVERSAL credit giving back `points` of the booking's redemption, from the months it
    took that earlier returns had not given back (oldest first)."""
    redeem = booking.redeem
    if redeem is None or points == 0:
        return
    months = cohorts.joined(
        *(
            cohorts.allocation_months(allocation, month_of(redeem.created_at))
            for allocation in redeem.allocations
        )
    )
    cohorts.take(months, booking.refunded.redeem_returned)
    entry = book.credit(
        TransactionType.REVERSAL,
        points,
        Figure.REDEEMED,
        expires_at=book.ctx.now + timedelta(days=book.ctx.config.validity_days),
        description=description,
        reason=reason,
        booking_id=booking_id,
        related_transaction_id=redeem.transaction_id,
        issue_months=cohorts.take(months, points),
    )
    entry.refund_id = refund_id


def _take_back_earned(
    book: _Book,
    booking: BookingLedger,
    booking_id: str,
    points: int,
    description: str,
    reason: str,
    refund_id: str | None = None,
) -> None:
    """A REVERSAL debit of `points` of the booking's EARN: from the booking's own lot first,
    then FIFO, below zero if they were spent (SPEC §2.8). Those of them that had expired
    are not taken again: the customer has lost them already."""
    earn = booking.earn
    if earn is None or points == 0:
        return
    earn_month = month_of(earn.created_at)
    lot_id = earn.point_batch_id
    already_expired = book.forget_expired(lot_id, points, earn_month) if lot_id else 0
    if already_expired:
        description += f" ({already_expired:,} of them had already expired)"
    entry = book.debit(
        TransactionType.REVERSAL,
        points - already_expired,
        Figure.EARNED,
        description=description,
        reason=reason,
        allow_negative=True,
        first_lot=lot_id,
        first_month=earn_month,
        booking_id=booking_id,
        related_transaction_id=earn.transaction_id,
        already_expired=already_expired,
    )
    entry.refund_id = refund_id


def refund_booking(
    account: Account | None,
    ctx: Context,
    *,
    customer_id: str,
    booking_id: str,
    booking: BookingLedger,
    after: BookingRefunds,
    refund_id: str,
    refunded_cents: int,
    reason: str,
) -> Posting | None:
    """The REVERSAL entries of a partial refund (`Booking Refunded`): the share of the EARN
    the refund's cents add (`after`, from `refunds_after`) goes, and the same share of the
    booking's redemption comes back. None when the refund is too small to move a point:
    it still counts towards the shares of the refunds after it."""
    before = booking.refunded
    returned = after.redeem_returned - before.redeem_returned
    reversed_ = after.earn_reversed - before.earn_reversed
    if returned == 0 and reversed_ == 0:
        return None
    book = _Book(_require_account(account, customer_id), customer_id, ctx)
    assert booking.amount_cents is not None  # refunds_after refuses a booking without one
    of_amount = f"{_rand(refunded_cents)} of {_rand(booking.amount_cents)} refunded"
    _return_redeemed(
        book,
        booking,
        booking_id,
        returned,
        f"{returned:,} of {booking.redeemed:,} points redeemed on booking {booking_id} "
        f"returned: {of_amount}",
        reason,
        refund_id,
    )
    _take_back_earned(
        book,
        booking,
        booking_id,
        reversed_,
        f"{reversed_:,} of {booking.earned:,} points earned on booking {booking_id} "
        f"reversed: {of_amount}",
        reason,
        refund_id,
    )
    return book.posting()


def reverse_booking(
    account: Account | None,
    ctx: Context,
    *,
    customer_id: str,
    booking_id: str,
    booking: BookingLedger,
    reason: str,
) -> Posting | None:
    """REVERSAL of a cancelled booking: its redeemed points come back, its earn goes (§2.4),
    less what its partial refunds reversed already.

    The earn is taken from the booking's own lot first, then FIFO; if those points were
    spent the balance goes negative (SPEC §2.8). Points of the earn that had expired are not
    taken again: the customer has lost them already. None when nothing is left to reverse.
    """
    returned = booking.redeemed - booking.refunded.redeem_returned
    reversed_ = booking.earned - booking.refunded.earn_reversed
    if returned == 0 and reversed_ == 0:
        return None
    book = _Book(_require_account(account, customer_id), customer_id, ctx)
    _return_redeemed(
        book,
        booking,
        booking_id,
        returned,
        f"{returned:,} redeemed points returned: booking {booking_id} cancelled",
        reason,
    )
    _take_back_earned(
        book,
        booking,
        booking_id,
        reversed_,
        f"Points earned on booking {booking_id} reversed: booking cancelled",
        reason,
    )
    return book.posting()
