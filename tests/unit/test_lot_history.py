"""A lot's life from the ledger's entries, without a database: the entries are those the
ledger's own rules make."""

from datetime import UTC, datetime, timedelta

from crm_points import ledger
from crm_points.config import PointsConfig
from crm_points.ledger import BookingLedger, Context
from crm_points.lot_history import LotEventKind, LotLives, LotState
from crm_points.records import Account, Actor, LedgerEntry, TransactionType

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CUSTOMER = "c-1"


class Book:
    """An account and every entry made on it, in order."""

    def __init__(self) -> None:
        self.account: Account | None = None
        self.entries: list[LedgerEntry] = []

    def post(self, posting: ledger.Posting | None) -> list[LedgerEntry]:
        assert posting is not None
        self.account = posting.account
        self.entries.extend(posting.entries)
        return posting.entries

    @property
    def now(self) -> Account:
        assert self.account is not None
        return self.account

    def lives(self, *lot_ids: str, through: int | None = None) -> LotLives:
        lives = LotLives(self.now, lot_ids)
        for entry in self.entries[: through or len(self.entries)]:
            lives.add(entry)
        return lives


def ctx(days: float = 0, config: PointsConfig | None = None) -> Context:
    return Context(
        now=NOW + timedelta(days=days),
        actor=Actor(user_id="u-1", role="ADMIN"),
        request_id="r",
        config=config or PointsConfig(),
    )


def award(book: Book, points: int, expires_in: int, at: float = 0) -> LedgerEntry:
    (entry,) = book.post(
        ledger.award(
            book.account,
            ctx(at),
            customer_id=CUSTOMER,
            amount=points,
            reason="Birthday bonus",
            expiry_date=NOW + timedelta(days=expires_in),
        )
    )
    return entry


def redeem(book: Book, points: int, at: float = 0) -> LedgerEntry:
    (entry,) = book.post(
        ledger.redeem(book.account, ctx(at), customer_id=CUSTOMER, amount=points, reason="Buy")
    )
    return entry


def kinds(lives: LotLives, lot_id: str) -> list[tuple[LotEventKind, int]]:
    return [(event.kind, event.points) for event in lives[lot_id].events]


def test_a_credit_spent_by_three_debits_then_held_no_more():
    book = Book()
    credit = award(book, 1_000, 100)
    lot = credit.point_batch_id
    assert lot is not None
    for points in (300, 500, 200):
        redeem(book, points, at=1)
    lives = book.lives(lot)
    assert kinds(lives, lot) == [
        (LotEventKind.CREDIT, 1_000),
        (LotEventKind.DRAW, -300),
        (LotEventKind.DRAW, -500),
        (LotEventKind.DRAW, -200),
    ]
    summary = lives[lot].summary()
    assert (summary.status, summary.remaining_points) == (LotState.CONSUMED, 0)
    assert summary.ended_by == book.entries[-1].transaction_id
    assert summary.made_by == credit.transaction_id
    assert summary.earned_at == NOW
    assert lives[lot].complete


def test_an_active_lot_is_what_the_account_holds_and_its_life_goes_on():
    book = Book()
    lot = award(book, 1_000, 100).point_batch_id
    assert lot is not None
    redeem(book, 300, at=1)
    lives = book.lives(lot)
    summary = lives[lot].summary()
    assert (summary.status, summary.remaining_points) == (LotState.ACTIVE, 700)
    assert summary.expires_at == book.now.lots[0].expires_at
    assert not lives[lot].complete


def test_the_life_is_complete_at_the_debit_that_spent_it():
    book = Book()
    lot = award(book, 100, 100).point_batch_id
    assert lot is not None
    award(book, 100, 200)
    redeem(book, 150, at=1)  # spends the first lot
    lives = book.lives(lot, through=3)
    assert lives[lot].complete
    assert lives[lot].summary().ended_by == book.entries[2].transaction_id


def test_credits_of_one_day_join_one_lot():
    book = Book()
    first = award(book, 100, 30)
    second = award(book, 50, 30, at=0.5)
    assert first.point_batch_id == second.point_batch_id
    lot = first.point_batch_id
    assert lot is not None
    lives = book.lives(lot)
    assert kinds(lives, lot) == [(LotEventKind.CREDIT, 100), (LotEventKind.CREDIT, 50)]
    assert [event.transaction_id for event in lives[lot].credits] == [
        first.transaction_id,
        second.transaction_id,
    ]


def test_an_expired_lot_unrecovered_is_complete_at_its_expiry():
    book = Book()
    lot = award(book, 100, 1).point_batch_id
    assert lot is not None
    (expire,) = book.post(ledger.expire(book.account, ctx(3), customer_id=CUSTOMER))
    lives = book.lives(lot)
    assert kinds(lives, lot) == [(LotEventKind.CREDIT, 100), (LotEventKind.EXPIRY, -100)]
    summary = lives[lot].summary()
    assert (summary.status, summary.ended_by) == (LotState.EXPIRED, expire.transaction_id)
    assert summary.expired_at == expire.created_at
    assert summary.recovered_by is None
    assert lives[lot].complete


def test_an_expired_lot_recovered_names_the_recovery_and_the_lot_it_went_into():
    book = Book()
    lot = award(book, 100, 1).point_batch_id
    assert lot is not None
    redeem(book, 40, at=0.5)
    (expire,) = book.post(ledger.expire(book.account, ctx(3), customer_id=CUSTOMER))
    # Read to the expiry only, the life is not complete: the account no longer holds the
    # expiry as recoverable, so something followed it.
    (recover,) = book.post(
        ledger.recover_expired(
            book.account,
            ctx(4),
            customer_id=CUSTOMER,
            expire_transaction_id=expire.transaction_id,
            reason="Complaint",
            new_expiry_date=NOW + timedelta(days=90),
        )
    )
    assert not book.lives(lot, through=3)[lot].complete
    lives = book.lives(lot)
    assert kinds(lives, lot) == [
        (LotEventKind.CREDIT, 100),
        (LotEventKind.DRAW, -40),
        (LotEventKind.EXPIRY, -60),
        (LotEventKind.RECOVERY, 60),
    ]
    recovery = lives[lot].events[-1]
    assert recovery.recovered_into == recover.point_batch_id
    assert recovery.related_transaction_id == expire.transaction_id
    summary = lives[lot].summary()
    assert (summary.status, summary.recovered_by) == (LotState.EXPIRED, recover.transaction_id)
    assert lives[lot].complete


def test_expired_points_a_reversal_writes_off_are_told():
    book = Book()
    config = PointsConfig(rolling_expiry=False, reinstatement_days=0, validity_days=10)
    (earn,) = book.post(
        ledger.complete_booking(
            None,
            ctx(0, config),
            customer_id=CUSTOMER,
            booking_id="B-1",
            completed_at=NOW,
            amount_cents=50_000,
        )
    )
    lot = earn.point_batch_id
    assert lot is not None
    book.post(ledger.expire(book.account, ctx(12, config), customer_id=CUSTOMER))
    book.post(
        ledger.reverse_booking(
            book.account,
            ctx(13, config),
            customer_id=CUSTOMER,
            booking_id="B-1",
            booking=BookingLedger(earn=earn, redeem=None),
            reason="Cancelled",
        )
    )
    lives = book.lives(lot)
    assert kinds(lives, lot) == [
        (LotEventKind.CREDIT, 500),
        (LotEventKind.EXPIRY, -500),
        (LotEventKind.WRITTEN_OFF, -500),
    ]
    assert lives[lot].complete


def test_an_extension_onto_another_lots_day_merges_that_lot_in():
    book = Book()
    kept = award(book, 100, 30).point_batch_id
    joined = award(book, 50, 60).point_batch_id
    assert kept is not None
    assert joined is not None
    (extension,) = book.post(
        ledger.extend_expiry(
            book.account,
            ctx(1),
            customer_id=CUSTOMER,
            point_batch_id=kept,
            new_expiry_date=NOW + timedelta(days=60),
            reason="Loyal",
        )
    )
    lives = book.lives(kept, joined)
    assert kinds(lives, kept) == [
        (LotEventKind.CREDIT, 100),
        (LotEventKind.EXTENSION, 0),
        (LotEventKind.MERGED_IN, 50),
    ]
    extended = lives[kept].events[1]
    assert (extended.old_expiry_date, extended.new_expiry_date) == (
        extension.old_expiry_date,
        extension.new_expiry_date,
    )
    assert lives[kept].events[2].merged_from == joined
    assert kinds(lives, joined) == [(LotEventKind.CREDIT, 50), (LotEventKind.MERGED_OUT, -50)]
    out = lives[joined].summary()
    assert (out.status, out.merged_into, out.ended_by) == (
        LotState.MERGED,
        kept,
        extension.transaction_id,
    )
    assert out.expires_at == extension.new_expiry_date
    assert lives[joined].complete
    assert lives[kept].summary().remaining_points == 150


def test_rolling_expiry_moves_lots_to_the_bookings_day_where_they_become_one():
    book = Book()
    kept = award(book, 100, 30).point_batch_id
    joined = award(book, 200, 60).point_batch_id
    assert kept is not None
    assert joined is not None
    (earn,) = book.post(
        ledger.complete_booking(
            book.account,
            ctx(1),
            customer_id=CUSTOMER,
            booking_id="B-1",
            completed_at=NOW + timedelta(days=1),
            amount_cents=20_000,
        )
    )
    # Both lots rolled to the booking's day became the one spent first; the booking's
    # points joined it.
    assert earn.point_batch_id == kept
    lives = book.lives(kept, joined)
    assert kinds(lives, kept) == [
        (LotEventKind.CREDIT, 100),
        (LotEventKind.MERGED_IN, 200),
        (LotEventKind.CREDIT, 200),
    ]
    assert kinds(lives, joined) == [(LotEventKind.CREDIT, 200), (LotEventKind.MERGED_OUT, -200)]
    assert lives[kept].summary().remaining_points == 500
    merged = lives[joined].summary()
    assert (merged.status, merged.merged_into, merged.expires_at) == (
        LotState.MERGED,
        kept,
        earn.expires_at,
    )


def test_a_credit_that_only_pays_back_a_debt_makes_a_lot_that_never_held_a_point():
    book = Book()
    award(book, 100, 30)
    book.post(
        ledger.deduct(
            book.account,
            ctx(0.1),
            customer_id=CUSTOMER,
            amount=300,
            reason="Fraud",
            allow_negative=True,
        )
    )
    credit = award(book, 150, 60, at=0.2)
    lot = credit.point_batch_id
    assert lot is not None
    assert credit.settled_debt == 150
    lives = book.lives(lot)
    assert kinds(lives, lot) == [(LotEventKind.CREDIT, 0)]
    assert lives[lot].events[0].settled_debt == 150
    summary = lives[lot].summary()
    assert (summary.status, summary.ended_by) == (LotState.CONSUMED, credit.transaction_id)


def test_a_debit_across_lots_is_one_draw_in_each():
    book = Book()
    lots = [award(book, 100, days).point_batch_id for days in (10, 20, 30)]
    debit = redeem(book, 250, at=1)
    lives = book.lives(*[lot for lot in lots if lot])
    assert [(lot_id, kinds(lives, lot_id)[-1]) for lot_id in lives.lives] == [
        (lots[0], (LotEventKind.DRAW, -100)),
        (lots[1], (LotEventKind.DRAW, -100)),
        (lots[2], (LotEventKind.DRAW, -50)),
    ]
    assert [life.summary().status for life in lives] == [
        LotState.CONSUMED,
        LotState.CONSUMED,
        LotState.ACTIVE,
    ]
    assert all(
        life.events[-1].transaction_id == debit.transaction_id
        and life.events[-1].type is TransactionType.REDEEM
        for life in lives
    )
    assert lives.last_sequence == debit.sequence
