"""The reads that explain a balance change: an entry with the lots it touched, and a lot's
whole life (docs/api.md, "A lot's life"; docs/data-model.md, "A lot's life", has their
requests and their cost).

Each finds where its entries are by an index, reads the account, then the customer's
entries from the first credit of the lots concerned, a page at a time, and stops as soon as
`crm_points.lot_history` has what the answer needs: for a lot still active, the events
asked for (the account says what it holds now); for one that ended, its end and what became
of its expired points. So the cost follows the customer's entries from the lot's first
credit to its end (or, for an active lot, to the events shown).
"""

from collections.abc import Callable
from dataclasses import dataclass

from crm_points.api_models import DrawnLot, LotHistoryResponse, TransactionExplanation
from crm_points.dynamo import decode_cursor, encode_cursor
from crm_points.errors import NotFound, ValidationFailed
from crm_points.ledger_service import PointsService, read_of_account
from crm_points.ledger_store import LedgerStore
from crm_points.lot_history import LotEventKind, LotLife, LotLives
from crm_points.published import PointTransaction
from crm_points.records import Account, LedgerEntry

# The events of its lot an explained credit lists, from the credit on; its nextCursor goes
# on with GET /points/lots/{pointBatchId}.
EXPLAINED_EVENTS = 100
# The credits, and the lots merged in, listed for each lot a debit drew from: a lot that
# takes every booking of a frequent customer has thousands; the lot's own route pages them.
LISTED_PER_LOT = 50
# Beyond what any lot's life holds: a cursor past these is not one this route issued.
MAX_EVENTS = 10**9
MAX_SEQUENCE = 10**10


def lot_history(
    service: PointsService, point_batch_id: str, limit: int, cursor: str | None
) -> LotHistoryResponse:
    """A lot now and a page of its life, oldest first; 404 for a lot no entry names.

    The first page, and every page of a lot that ended, reads from the lot's first credit:
    what it held after each entry says which entry ended it. A later page of an active lot
    (the account says what it holds) reads from the entry its page starts at.
    """
    store = service.store
    start = _page_start(cursor, point_batch_id) if cursor else None
    places = store.lot_entry_places(point_batch_id) if start is None else None
    customer_id = places[0].customer_id if places else None
    if start is not None:
        customer_id = store.locate_lot(point_batch_id)
    if customer_id is None:
        raise NotFound(
            f"Point batch {point_batch_id} does not exist", {"pointBatchId": point_batch_id}
        )
    account = service.account(customer_id)
    lives = LotLives(account, [point_batch_id])
    life = lives[point_batch_id]
    if start is not None and life.active:
        first, shown = start.sequence, start.within
    else:
        if places is None:
            places = store.lot_entry_places(point_batch_id)
        first = places[0].sequence if places else 1
        shown = start.skip if start else 0
    _follow(
        store,
        account,
        first,
        lives,
        lambda: life.complete or (life.active and len(life.events) > shown + limit),
    )
    return _page(life, shown, start.skip if start else 0, limit)


def explain_transaction(service: PointsService, transaction_id: str) -> TransactionExplanation:
    """An entry and the lots it touched; 404 for an id no entry has.

    A credit, or an EXPIRY_EXTENDED: its lot now and what became of it from the entry on.
    A debit: each lot it drew from, what it drew, the lot now and the credits that had made
    it up to the debit.
    """
    store = service.store
    place = store.place_of_transaction(transaction_id)
    entry, account = (
        read_of_account(place.customer_id, lambda: store.entry_with_account(place))
        if place
        else (None, None)
    )
    if entry is None or account is None:
        raise NotFound(
            f"Transaction {transaction_id} does not exist", {"transactionId": transaction_id}
        )
    transaction = PointTransaction.of(entry)
    if entry.point_batch_id is not None:
        return TransactionExplanation(
            transaction=transaction, lot=_since(store, account, entry, entry.point_batch_id)
        )
    drawn = sum(allocation.points for allocation in entry.allocations)
    return TransactionExplanation(
        transaction=transaction,
        drawn_from=_drawn_from(store, account, entry),
        overdrawn=max(0, -entry.points - drawn),
    )


def _since(
    store: LedgerStore, account: Account, entry: LedgerEntry, point_batch_id: str
) -> LotHistoryResponse:
    """The lot of a credit or an extension now, and its events from that entry on."""
    places = store.lot_entry_places(point_batch_id)
    # The index is eventually consistent: the entry itself bounds where the lot began.
    first = min([entry.sequence, *(place.sequence for place in places)])
    lives = LotLives(account, [point_batch_id])
    life = lives[point_batch_id]

    def after() -> int:
        return sum(1 for event in life.events if event.sequence >= entry.sequence)

    _follow(
        store,
        account,
        first,
        lives,
        lambda: life.complete or (life.active and after() > EXPLAINED_EVENTS),
    )
    before = len(life.events) - after()
    return _page(life, before, before, EXPLAINED_EVENTS)


def _drawn_from(store: LedgerStore, account: Account, entry: LedgerEntry) -> list[DrawnLot]:
    """Each lot a debit drew from, in the debit's order."""
    drawn: dict[str, int] = {}
    for allocation in entry.allocations:
        drawn[allocation.point_batch_id] = drawn.get(allocation.point_batch_id, 0) + (
            allocation.points
        )
    if not drawn:
        return []
    places = store.lots_entry_places(list(drawn))
    first = min([entry.sequence, *(found[0].sequence for found in places.values() if found)])
    lives = LotLives(account, drawn)

    def enough() -> bool:
        # An active lot needs its credits up to the debit (the account says the rest); one
        # that ended, its end.
        return all(
            life.complete or (life.active and lives.last_sequence >= entry.sequence)
            for life in lives
        )

    _follow(store, account, first, lives, enough)
    answer = []
    for point_batch_id, points in drawn.items():
        life = lives[point_batch_id]
        credits = [event for event in life.credits if event.sequence < entry.sequence]
        merged = [
            event
            for event in life.events
            if event.kind is LotEventKind.MERGED_IN and event.sequence <= entry.sequence
        ]
        answer.append(
            DrawnLot(
                point_batch_id=point_batch_id,
                points=points,
                lot=life.summary(),
                credits=credits[:LISTED_PER_LOT],
                credit_count=len(credits),
                merged_in=merged[:LISTED_PER_LOT],
                merged_in_count=len(merged),
            )
        )
    return answer


def _follow(
    store: LedgerStore,
    account: Account,
    first: int,
    lives: LotLives,
    enough: Callable[[], bool],
) -> None:
    """Give `lives` the account's entries from `first` on, a page at a time, until
    `enough()` or the last entry the account counts. The account was read first, so every
    entry it counts is in the table, and one written since is left out, as the account
    leaves it out: the lots and the entries read agree."""
    for page in store.entries_from(account.customer_id, first, account.entry_count):
        for entry in page:
            lives.add(entry)
        if enough():
            return


def _page(life: LotLife, shown: int, skip: int, limit: int) -> LotHistoryResponse:
    """The lot now and the `limit` events of those read from the `shown`-th on, which are
    the lot's from the `skip`-th on; with the cursor of the next page."""
    end = shown + limit
    next_cursor = None
    if len(life.events) > end:
        following = life.events[end].sequence
        place = {
            "skip": skip + limit,
            "sequence": following,
            "within": sum(1 for event in life.events[:end] if event.sequence == following),
        }
        next_cursor = encode_cursor(place, _scope(life.point_batch_id))
    return LotHistoryResponse(
        lot=life.summary(), events=life.events[shown:end], next_cursor=next_cursor
    )


def _scope(point_batch_id: str) -> str:
    return f"lot|{point_batch_id}"


@dataclass(frozen=True)
class _PageStart:
    """Where a page of a lot's events starts: after the first `skip` of them, at the entry
    numbered `sequence`, after the `within` events that entry gave the lot shown before.
    A lot's events only ever grow at the end, so a place stays good."""

    skip: int
    sequence: int
    within: int


def _page_start(cursor: str, point_batch_id: str) -> _PageStart:
    """The place a cursor of this lot's pages names; another lot's, or a tampered one, is
    a 422."""
    values = decode_cursor(cursor, _scope(point_batch_id))
    bounds = {"skip": (1, MAX_EVENTS), "sequence": (1, MAX_SEQUENCE), "within": (0, MAX_EVENTS)}
    for name, (low, high) in bounds.items():
        value = values.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValidationFailed("cursor is not valid", {"field": "cursor"})
    return _PageStart(values["skip"], values["sequence"], values["within"])
