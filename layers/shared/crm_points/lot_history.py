"""A lot's life, worked out from the ledger's entries: plain Python, no I/O.

A lot (docs/ledger.md, "A lot is the points of one expiry day") leaves the account once it
is spent, expired or merged into another, but its whole life stays in the entries: the
credits that made and joined it carry its `pointBatchId`, every debit names it in its
`allocations`, the entries that moved lots onto one day name it in `mergedLots`, an
EXPIRY_EXTENDED entry names it, a RECOVER names the EXPIRE it brought back
(`relatedTransactionId`), and a reversal of one of its credits says how many of its expired
points it wrote off (`alreadyExpired`).

`LotLives` reads a customer's entries in ledger order, from the first credit of the lots it
follows, and keeps each lot's events and the points it holds after each entry; with the
account as it is now it tells what became of each lot, and when no later entry can change
that (`LotLife.complete`), so a reader stops there.
"""

from collections.abc import Iterable, Iterator
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from crm_points.records import (
    Account,
    Allocation,
    CamelModel,
    LedgerEntry,
    Lot,
    LotMerge,
    TransactionType,
    UtcDateTime,
)


class LotState(StrEnum):
    """What a lot is now: still spendable, or how it ended."""

    ACTIVE = "ACTIVE"
    CONSUMED = "CONSUMED"
    EXPIRED = "EXPIRED"
    MERGED = "MERGED"


class LotEventKind(StrEnum):
    """What an entry did to a lot."""

    CREDIT = "CREDIT"
    DRAW = "DRAW"
    EXTENSION = "EXTENSION"
    MERGED_IN = "MERGED_IN"
    MERGED_OUT = "MERGED_OUT"
    EXPIRY = "EXPIRY"
    RECOVERY = "RECOVERY"
    WRITTEN_OFF = "WRITTEN_OFF"


class LotEvent(CamelModel):
    """One thing an entry did to a lot, with the entry's own words."""

    kind: LotEventKind = Field(
        description="CREDIT: a credit made the lot (its first) or joined it; DRAW: a debit "
        "(REDEEM, DEDUCT, REVERSAL) took points from it; EXTENSION: its expiry moved later; "
        "MERGED_IN: another lot joined it; MERGED_OUT: it joined another lot; EXPIRY: the "
        "expiry run took what it held; RECOVERY: a RECOVER brought those points back; "
        "WRITTEN_OFF: a reversal of one of its credits found those points expired and "
        "wrote them off"
    )
    transaction_id: str = Field(description="The entry")
    type: TransactionType = Field(description="The entry's type")
    sequence: int = Field(description="The entry's number in the customer's ledger")
    created_at: UtcDateTime
    points: int = Field(
        description="The lot's points the event moved: + those that joined it (CREDIT, "
        "MERGED_IN) or, for RECOVERY, came back to the customer; - those that left it "
        "(DRAW, EXPIRY, MERGED_OUT) or, for WRITTEN_OFF, can no longer be recovered; 0 for "
        "EXTENSION"
    )
    description: str
    reason: str
    booking_id: str | None = None
    related_transaction_id: str | None = Field(
        default=None,
        description="The entry's: the EXPIRE a RECOVER brought back, the EARN or REDEEM a "
        "REVERSAL reversed",
    )
    settled_debt: int = Field(
        default=0, description="CREDIT: its points that paid back a negative balance instead"
    )
    expires_at: UtcDateTime | None = Field(
        default=None, description="CREDIT: the lot's expiry when the credit made or joined it"
    )
    old_expiry_date: UtcDateTime | None = Field(default=None, description="EXTENSION")
    new_expiry_date: UtcDateTime | None = Field(default=None, description="EXTENSION")
    merged_from: str | None = Field(default=None, description="MERGED_IN: the lot that joined")
    merged_into: str | None = Field(default=None, description="MERGED_OUT: the lot it joined")
    recovered_into: str | None = Field(
        default=None, description="RECOVERY: the lot the recovered points went into"
    )


class LotSummary(CamelModel):
    """A lot as it is now."""

    point_batch_id: str
    customer_id: str
    status: LotState = Field(
        description="ACTIVE: in the account, spendable; otherwise how it ended: CONSUMED "
        "(spent, or a credit that only paid back a debt), EXPIRED, MERGED (into mergedInto)"
    )
    remaining_points: int = Field(description="What it holds now (0 unless ACTIVE)")
    expires_at: UtcDateTime | None = Field(
        default=None,
        description="ACTIVE: when it expires; otherwise the expiry its entries last gave it",
    )
    earned_at: UtcDateTime | None = Field(
        default=None,
        description="ACTIVE: when its oldest points were earned (the account's figure, "
        "merged lots included); otherwise when its first credit was made",
    )
    made_by: str | None = Field(default=None, description="The credit entry that made it")
    ended_by: str | None = Field(
        default=None,
        description="The entry that ended it: the debit that took its last points, the "
        "EXPIRE, the entry that merged it",
    )
    expired_at: UtcDateTime | None = Field(default=None, description="EXPIRED: when")
    merged_into: str | None = Field(default=None, description="MERGED: the lot it joined")
    recovered_by: str | None = Field(
        default=None, description="EXPIRED: the RECOVER entry that brought its points back"
    )


def _event(kind: LotEventKind, entry: LedgerEntry, points: int, **fields: object) -> LotEvent:
    return LotEvent.model_validate(
        {
            "kind": kind,
            "transaction_id": entry.transaction_id,
            "type": entry.type,
            "sequence": entry.sequence,
            "created_at": entry.created_at,
            "points": points,
            "description": entry.description,
            "reason": entry.reason,
            "booking_id": entry.booking_id,
            "related_transaction_id": entry.related_transaction_id,
            **fields,
        }
    )


class LotLife:
    """One lot's events and what it holds, entry after entry, from its first credit."""

    def __init__(self, point_batch_id: str, account: Account) -> None:
        self.point_batch_id = point_batch_id
        self.customer_id = account.customer_id
        self.now: Lot | None = next(
            (lot for lot in account.lots if lot.point_batch_id == point_batch_id), None
        )
        self.events: list[LotEvent] = []
        self.held = 0
        self.made_by: LedgerEntry | None = None
        self.credit_ids: set[str] = set()
        self.expires_at: datetime | None = None
        self.state: LotState | None = None
        self.ended_by: LedgerEntry | None = None
        self.merged_into: str | None = None
        self.recovered_by: str | None = None
        # Of its expired points, those neither recovered nor written off in the entries read,
        # and those the account can still recover now: once the two agree, nothing later in
        # the ledger concerns the lot.
        self.outstanding = 0
        self._recoverable_now = {
            expired.transaction_id: sum(
                allocation.points
                for allocation in expired.allocations
                if allocation.point_batch_id == point_batch_id
            )
            for expired in account.unrecovered_expiries
        }

    @property
    def active(self) -> bool:
        """The account holds it now."""
        return self.now is not None

    @property
    def complete(self) -> bool:
        """No entry after those read can concern it: it ended and, if it expired, what
        became of its expired points is read too. An active lot's life goes on."""
        if self.active or self.state is None:
            return False
        if self.state is LotState.EXPIRED:
            assert self.ended_by is not None
            return self.outstanding == self._recoverable_now.get(self.ended_by.transaction_id, 0)
        return True

    @property
    def credits(self) -> list[LotEvent]:
        """The credits that made and joined it, in order."""
        return [event for event in self.events if event.kind is LotEventKind.CREDIT]

    def summary(self) -> LotSummary:
        """The lot now: the account's own figures while it is active, otherwise how its
        entries ended it."""
        if self.now is not None:
            return LotSummary(
                point_batch_id=self.point_batch_id,
                customer_id=self.customer_id,
                status=LotState.ACTIVE,
                remaining_points=self.now.remaining_points,
                expires_at=self.now.expires_at,
                earned_at=self.now.earned_at,
                made_by=self.now.transaction_id,
            )
        expired = self.state is LotState.EXPIRED and self.ended_by is not None
        return LotSummary(
            point_batch_id=self.point_batch_id,
            customer_id=self.customer_id,
            # Not active, and neither expired nor merged in the entries: spent.
            status=self.state or LotState.CONSUMED,
            remaining_points=0,
            expires_at=self.expires_at,
            earned_at=self.made_by.created_at if self.made_by else None,
            made_by=self.made_by.transaction_id if self.made_by else None,
            ended_by=self.ended_by.transaction_id if self.ended_by else None,
            expired_at=self.ended_by.created_at if expired and self.ended_by else None,
            merged_into=self.merged_into,
            recovered_by=self.recovered_by,
        )

    # -- what an entry does to it, in the order of LotLives.add -----------------------------

    def extended(self, entry: LedgerEntry) -> None:
        self.expires_at = entry.new_expiry_date
        self.events.append(
            _event(
                LotEventKind.EXTENSION,
                entry,
                0,
                old_expiry_date=entry.old_expiry_date,
                new_expiry_date=entry.new_expiry_date,
            )
        )

    def merged_in(self, entry: LedgerEntry, merge: LotMerge) -> None:
        self.held += merge.points
        self._moved_to(entry)
        self.events.append(
            _event(LotEventKind.MERGED_IN, entry, merge.points, merged_from=merge.point_batch_id)
        )

    def merged_out(self, entry: LedgerEntry, merge: LotMerge) -> None:
        self.held -= merge.points
        self._moved_to(entry)
        self._end(LotState.MERGED, entry)
        self.merged_into = merge.merged_into
        self.events.append(
            _event(LotEventKind.MERGED_OUT, entry, -merge.points, merged_into=merge.merged_into)
        )

    def _moved_to(self, entry: LedgerEntry) -> None:
        """Lots merge on the day they came to share: the day the merging entry credited
        (rolling expiry) or extended to; a redemption that merged names no day."""
        day = entry.new_expiry_date or (entry.expires_at if entry.points > 0 else None)
        if day is not None:
            self.expires_at = day

    def credited(self, entry: LedgerEntry) -> None:
        joined = entry.points - entry.settled_debt
        if self.made_by is None:
            self.made_by = entry
        self.credit_ids.add(entry.transaction_id)
        self.held += joined
        self.expires_at = entry.expires_at
        self.events.append(
            _event(
                LotEventKind.CREDIT,
                entry,
                joined,
                settled_debt=entry.settled_debt,
                expires_at=entry.expires_at,
            )
        )

    def drawn(self, entry: LedgerEntry, allocation: Allocation) -> None:
        self.held -= allocation.points
        self.events.append(_event(LotEventKind.DRAW, entry, -allocation.points))

    def expired(self, entry: LedgerEntry, allocation: Allocation) -> None:
        self.held -= allocation.points
        self.outstanding = allocation.points
        self._end(LotState.EXPIRED, entry)
        self.events.append(_event(LotEventKind.EXPIRY, entry, -allocation.points))

    def recovered(self, entry: LedgerEntry) -> None:
        # A RECOVER brings back every point of its EXPIRE not written off before it.
        points, self.outstanding = self.outstanding, 0
        self.recovered_by = entry.transaction_id
        self.events.append(
            _event(LotEventKind.RECOVERY, entry, points, recovered_into=entry.point_batch_id)
        )

    def written_off(self, entry: LedgerEntry) -> None:
        points = min(entry.already_expired, self.outstanding)
        self.outstanding -= points
        self.events.append(_event(LotEventKind.WRITTEN_OFF, entry, -points))

    def settle(self, entry: LedgerEntry) -> None:
        """After an entry that touched it: a lot no longer in the account that holds nothing
        and has not expired or merged was spent by this entry (or, made by a credit that
        only paid back a debt, never held anything)."""
        if self.state is None and not self.active and self.made_by is not None and self.held <= 0:
            self._end(LotState.CONSUMED, entry)

    def _end(self, state: LotState, entry: LedgerEntry) -> None:
        self.state = state
        self.ended_by = entry


class LotLives:
    """The lives of some of one account's lots, built from its entries in ledger order.

    Give `add` every entry from the first credit of the lots followed (an entry before it
    concerns none of them); each lot's life is then as complete as the entries read.
    """

    def __init__(self, account: Account, point_batch_ids: Iterable[str]) -> None:
        self.lives = {lot_id: LotLife(lot_id, account) for lot_id in point_batch_ids}
        self.last_sequence = 0

    def __getitem__(self, point_batch_id: str) -> LotLife:
        return self.lives[point_batch_id]

    def __iter__(self) -> Iterator[LotLife]:
        return iter(self.lives.values())

    @property
    def complete(self) -> bool:
        """Every lot followed has ended, with whatever followed its end."""
        return all(life.complete for life in self.lives.values())

    def add(self, entry: LedgerEntry) -> None:
        """What one entry did to the lots followed. Within an entry, an extension comes
        first (an extended lot then takes in the lot of the day it moved to), then the
        merges (rolling expiry moves the lots before the booking's credit joins them), then
        its credit, then its allocations."""
        self.last_sequence = entry.sequence
        touched: list[LotLife] = []

        def follow(point_batch_id: str | None) -> LotLife | None:
            life = self.lives.get(point_batch_id) if point_batch_id else None
            if life is not None:
                touched.append(life)
            return life

        own = follow(entry.point_batch_id)
        if own is not None and entry.type is TransactionType.EXPIRY_EXTENDED:
            own.extended(entry)
        for merge in entry.merged_lots:
            if (life := follow(merge.point_batch_id)) is not None:
                life.merged_out(entry, merge)
            if (life := follow(merge.merged_into)) is not None:
                life.merged_in(entry, merge)
        # A credit; a debit names its lots in its allocations.
        if (
            own is not None
            and entry.type is not TransactionType.EXPIRY_EXTENDED
            and entry.points > 0
        ):
            own.credited(entry)
        for allocation in entry.allocations:
            if (life := follow(allocation.point_batch_id)) is not None:
                if entry.type is TransactionType.EXPIRE:
                    life.expired(entry, allocation)
                else:
                    life.drawn(entry, allocation)
        related = entry.related_transaction_id
        for life in self.lives.values() if related is not None else ():
            if life.state is not LotState.EXPIRED or life.outstanding == 0:
                continue  # only expired points can be recovered or written off
            assert life.ended_by is not None
            if entry.type is TransactionType.RECOVER and life.ended_by.transaction_id == related:
                life.recovered(entry)
                touched.append(life)
            elif entry.already_expired > 0 and related in life.credit_ids:
                life.written_off(entry)
                touched.append(life)
        for life in touched:
            life.settle(entry)
