"""Demo data for the local stack: customers `demo-001`… with two years of believable activity.

Each customer follows a story (a regular, a lapsed customer whose points expired, one who came
back in time to have them reinstated, a newcomer, …). Their events — bookings paid partly with
points at checkout and completed a few days later, bonuses, corrections, cancellations, an
ADMIN's recovery of expired points — go through `PointsService` in time order, each as of its
own moment (a request's `now` is the service's clock). Before each event the daily expiry run
(00:30 Africa/Johannesburg, SPEC §6) is played for every run since the last event that had
points due, so points expire along the way as they would have; the load ends with an expiry
run at `now`.

Deterministic: the same seed, `now` and number of customers give the same ledger, apart from
transaction ids (ULIDs carry randomness). Customers are independent, so they load in parallel.
"""

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from random import Random

import local.paths  # noqa: F401  (puts crm_points on the path when run as a script)
from crm_points.daily_runs import EXPIRE_POINTS
from crm_points.errors import PointsError
from crm_points.ledger_service import PointsService, Request
from crm_points.ledger_store import ScheduleStore
from crm_points.records import Account, Actor, CustomerProfile, PostingResult, TransactionType
from crm_points.validation import BUSINESS_TIMEZONE

DEMO_SEED = 2024
DEFAULT_CUSTOMERS = 40
HISTORY_DAYS = 730
EXPIRY_RUN_AT = time(0, 30)  # local time of the daily expire-points schedule

BOOKING_SYSTEM = Actor(user_id="booking-system", role="BOOKING_SYSTEM")
SYSTEM = Actor(user_id="system")
AGENT = Actor(user_id="agent-lerato", role="SUPPORT_AGENT")
MANAGERS = (
    Actor(user_id="manager-thandi", role="MANAGER"),
    Actor(user_id="manager-johan", role="MANAGER"),
)
ADMIN = Actor(user_id="admin-pieter", role="ADMIN")

# One story per customer, in turn: demo-001 is a regular, demo-002 has points expiring soon…
STORIES = (
    "regular",
    "expiring",
    "lapsed",
    "returning",
    "regular",
    "newcomer",
    "recovered",
    "refunded",
)
STORY_SUMMARIES = {
    "regular": "books every month or two; promotion points expire soon",
    "expiring": "last booked 11 months ago; all points expire within 30 days",
    "lapsed": "gone for over a year; points expired",
    "returning": "came back soon after points expired; they were reinstated",
    "newcomer": "joined in the last few months",
    "recovered": "points expired, an ADMIN recovered them",
    "refunded": "a refund after the points were spent took the balance below zero",
}

BONUS_REASONS = (
    "Birthday bonus",
    "Referral: a friend completed their first booking",
    "Service recovery: the technician arrived late",
    "Compensation for a rescheduled appointment",
    "Loyalty anniversary bonus",
    "Five-star review thank-you",
)
DEDUCT_REASONS = (
    "Correction: bonus awarded twice",
    "Correction: points credited to the wrong account",
)


def customer_id(number: int) -> str:
    """The id of the n-th demo customer: demo-001, demo-002, …"""
    return f"demo-{number:03d}"


def showcase(customers: int = DEFAULT_CUSTOMERS) -> list[tuple[str, str]]:
    """The first customer of each story, with what it shows."""
    first: dict[str, str] = {}
    for number in range(1, min(customers, len(STORIES)) + 1):
        first.setdefault(STORIES[number - 1], customer_id(number))
    return [(first[story], STORY_SUMMARIES[story]) for story in first]


@dataclass(frozen=True)
class DemoSummary:
    """What a load wrote: the customers and the ledger entries by type."""

    customer_ids: tuple[str, ...]
    entries: Counter[str]
    skipped: int

    @property
    def total_entries(self) -> int:
        return sum(self.entries.values())


@dataclass(frozen=True)
class _Event:
    at: datetime
    kind: str
    booking_id: str | None = None
    price_cents: int = 0
    redeem: str = "maybe"  # at checkout: "maybe" (if enough points), "all" or "never"


def _next_expiry_run(moment: datetime) -> datetime:
    """The first daily expiry run at or after `moment`."""
    local = moment.astimezone(BUSINESS_TIMEZONE)
    run = datetime.combine(local.date(), EXPIRY_RUN_AT, tzinfo=BUSINESS_TIMEZONE)
    if run < local:
        run = datetime.combine(
            local.date() + timedelta(days=1), EXPIRY_RUN_AT, tzinfo=BUSINESS_TIMEZONE
        )
    return run.astimezone(moment.tzinfo)


FIRST_NAMES = [
    "Thandi",
    "Sipho",
    "Ayesha",
    "Johan",
    "Lerato",
    "Pieter",
    "Naledi",
    "Ravi",
    "Zanele",
    "Michael",
    "Nomsa",
    "Fatima",
]
LAST_NAMES = [
    "Nkosi",
    "van der Merwe",
    "Pillay",
    "Botha",
    "Mokoena",
    "Naidoo",
    "Dlamini",
    "Smith",
    "Khumalo",
    "Jacobs",
]


class _Story:
    """Plans one customer's events, then plays them through the service in time order."""

    def __init__(
        self,
        service: PointsService,
        number: int,
        now: datetime,
        seed: int,
        cancelled: threading.Event,
    ) -> None:
        self.service = service
        self.customer_id = customer_id(number)
        self.story = STORIES[(number - 1) % len(STORIES)]
        self.now = now
        self.seed = seed
        self.rng = Random(f"{seed}:{self.customer_id}")
        self.cancelled = cancelled
        self.events: list[_Event] = []
        self.bookings = 0
        self.requests = 0
        # What the ledger told us so far.
        self.balance = 0
        self.soonest_expiry: datetime | None = None
        self.unrecovered: list[str] = []
        self.redeemed: dict[str, int] = {}
        self.entries: Counter[str] = Counter()
        self.skipped = 0

    def profile(self) -> CustomerProfile:
        """Who the customer is: a name, an e-mail and a phone, found by the CRM's search."""
        rng = Random(f"{self.seed}:{self.customer_id}:profile")
        first = rng.choice(FIRST_NAMES)
        last = rng.choice(LAST_NAMES)
        return CustomerProfile(
            customer_id=self.customer_id,
            email=f"{first}.{last.replace(' ', '')}.{self.customer_id}@example.com".lower(),
            phone=f"+2782{rng.randrange(10**6, 10**7)}",
            first_name=first,
            last_name=last,
            notify_sms=rng.random() < 0.7,
            updated_at=self.now,
        )

    # -- planning -------------------------------------------------------------------------

    def _day(self, days_ago: float) -> datetime:
        """A moment in business hours about `days_ago` days before now."""
        local = (self.now - timedelta(days=days_ago)).astimezone(BUSINESS_TIMEZONE)
        moment = datetime.combine(
            local.date(),
            time(self.rng.randint(8, 17), self.rng.randrange(0, 60, 5)),
            tzinfo=BUSINESS_TIMEZONE,
        )
        return moment.astimezone(self.now.tzinfo)

    def _add(self, event: _Event) -> None:
        if event.at < self.now:
            self.events.append(event)

    def _booking(
        self, days_ago: float, *, price_cents: int | None = None, fated: bool = True
    ) -> tuple[str, datetime]:
        """A booking made `days_ago` days ago, served and completed 1 to 10 days later; now and
        then (when `fated`) cancelled before the service or refunded after it. An unfated
        booking is paid in money only."""
        self.bookings += 1
        booking_id = f"{self.customer_id}-bk-{self.bookings:04d}"
        price = price_cents or self.rng.randint(150, 2_500) * 100
        checkout = self._day(days_ago)
        completed = checkout + timedelta(days=self.rng.randint(1, 10), hours=2)
        self._add(_Event(checkout, "checkout", booking_id, price, "maybe" if fated else "never"))
        fate = self.rng.random() if fated else 1.0
        if fate < 0.05:
            self._add(_Event(checkout + timedelta(days=1), "cancel", booking_id))
        else:
            self._add(_Event(completed, "complete", booking_id, price))
            if fate < 0.08:
                self._add(_Event(completed + timedelta(days=3), "cancel", booking_id))
        return booking_id, completed

    def _active(self, first: float, last: float, gaps: tuple[int, int] = (20, 90)) -> None:
        """Bookings from `first` to `last` days ago, with a bonus or a correction now and then."""
        days_ago = first
        while days_ago >= last:
            self._booking(days_ago)
            if self.rng.random() < 0.08:
                self._add(_Event(self._day(days_ago - 3), "bonus"))
            if self.rng.random() < 0.03:
                self._add(_Event(self._day(days_ago - 5), "deduct"))
            days_ago -= self.rng.randint(*gaps)

    def _days_ago(self, moment: datetime) -> float:
        return (self.now - moment) / timedelta(days=1)

    def _last_credit(self) -> datetime:
        """When the customer last earned or was awarded points, as planned so far."""
        return max(e.at for e in self.events if e.kind in {"signup", "complete", "bonus"})

    def plan(self) -> None:
        rng = self.rng
        if self.story == "returning":
            first = rng.uniform(HISTORY_DAYS - 10, HISTORY_DAYS - 2)
        else:
            first = rng.uniform(HISTORY_DAYS - 130, HISTORY_DAYS - 2)
        if self.story != "newcomer" and rng.random() < 0.6:
            self._add(_Event(self._day(first + 1), "signup"))
        if self.story == "regular":
            # A recent promotion whose points expire within the month, unless a booking
            # comes first (rolling expiry): the summary shows an expiring balance.
            promo = rng.uniform(4, 12)
            self._active(first, promo + 12)
            self._add(_Event(self._day(promo), "promo"))
        elif self.story == "expiring":
            # Last seen about eleven months ago: everything expires within 30 days.
            self._active(first, 380)
            self._booking(rng.uniform(352, 362), fated=False)
        elif self.story == "lapsed":
            self._active(first, rng.uniform(420, 600))
            if rng.random() < 0.5:
                # A manager gave one batch more time; it expired later all the same.
                extend_at = self._last_credit() + timedelta(days=rng.uniform(300, 340))
                self._add(_Event(extend_at, "extend"))
        elif self.story == "returning":
            # Away for more than a year; back within 90 days of the expiry: reinstated.
            self._active(first, first - rng.uniform(100, 140))
            back = self._last_credit() + timedelta(days=365 + rng.uniform(20, 70))
            self._active(self._days_ago(back), rng.uniform(2, 20))
        elif self.story == "newcomer":
            joined = rng.uniform(40, 150)
            self._add(_Event(self._day(joined + 1), "signup"))
            self._active(joined, rng.uniform(1, 15), gaps=(8, 35))
        elif self.story == "recovered":
            # Points expired while the customer was in hospital; an ADMIN recovered them.
            self._active(first, rng.uniform(430, 470))
            complaint = self._last_credit() + timedelta(days=365 + rng.uniform(5, 20))
            self._add(_Event(complaint, "recover"))
        elif self.story == "refunded":
            # A big booking's points were spent, then the booking was refunded: the balance
            # went negative until later bookings settled the debt (SPEC §2.8).
            middle = rng.uniform(250, 350)
            self._active(first, middle + 20)
            big, completed = self._booking(middle, price_cents=240_000, fated=False)
            self.bookings += 1
            spend = f"{self.customer_id}-bk-{self.bookings:04d}"
            self._add(_Event(completed + timedelta(days=2), "checkout", spend, 90_000, "all"))
            self._add(_Event(completed + timedelta(days=4), "complete", spend, 90_000))
            self._add(_Event(completed + timedelta(days=6), "cancel", big))
            self._active(middle - 20, rng.uniform(2, 20))
        self.events.sort(key=lambda event: event.at)

    # -- playing --------------------------------------------------------------------------

    def _request(self, at: datetime, actor: Actor) -> Request:
        self.requests += 1
        return Request(
            actor=actor,
            request_id=f"{self.customer_id}-{self.requests:04d}",
            now=at,
            idempotency_key=f"demo-{self.seed}-{self.customer_id}-{self.requests:04d}",
        )

    def _note(self, result: PostingResult | None) -> None:
        if result is None:
            return
        self.balance = result.current_balance
        if result.replayed:
            return
        for entry in result.transactions:
            self.entries[entry.type.value] += 1
            if entry.expires_at is not None:
                self.soonest_expiry = min(self.soonest_expiry or entry.expires_at, entry.expires_at)
            if entry.type is TransactionType.EXPIRE:
                self.unrecovered.append(entry.transaction_id)
            recovered = entry.related_transaction_id
            if entry.type is TransactionType.RECOVER and recovered in self.unrecovered:
                self.unrecovered.remove(str(recovered))

    def _account(self) -> Account | None:
        return self.service.store.load_account(self.customer_id)

    def _expire_until(self, moment: datetime) -> None:
        """Play every daily expiry run up to `moment` that had points due."""
        while self.soonest_expiry is not None and self.soonest_expiry <= moment:
            account = self._account()
            lots = account.lots if account else []
            self.soonest_expiry = min((lot.expires_at for lot in lots), default=None)
            if self.soonest_expiry is None:
                return
            run = _next_expiry_run(self.soonest_expiry)
            if run > moment:
                return
            self._note(
                self.service.expire(
                    customer_id=self.customer_id,
                    now=run,
                    request_id=f"expire-points-{run:%Y%m%d}",
                )
            )

    def play(self) -> None:
        self.service.admin.put_profile(self.profile())
        for event in self.events:
            if self.cancelled.is_set():
                return
            self._expire_until(event.at)
            try:
                self._note(self._play(event))
            except PointsError:
                # A move the ledger refused (not enough points, a batch already spent…).
                self.skipped += 1
        self._expire_until(self.now)
        self._note(
            self.service.expire(
                customer_id=self.customer_id, now=self.now, request_id="expire-points-demo-load"
            )
        )

    def _play(self, event: _Event) -> PostingResult | None:
        handler: Callable[[_Event], PostingResult | None] = getattr(self, f"_on_{event.kind}")
        return handler(event)

    def _on_signup(self, event: _Event) -> PostingResult:
        return self.service.award(
            self._request(event.at, AGENT),
            customer_id=self.customer_id,
            amount=500,
            reason="Welcome bonus",
        )

    def _on_checkout(self, event: _Event) -> PostingResult | None:
        """Points used at checkout, now and then, when the customer has enough of them."""
        assert event.booking_id is not None
        covers_price = event.price_cents // self.service.config.point_value_cents
        if event.redeem == "all":
            amount = min(self.balance, covers_price) // 100 * 100
        elif event.redeem == "maybe" and self.balance >= 1_500 and self.rng.random() < 0.35:
            amount = min(self.balance, covers_price // 2) // 100 * 100
        else:
            return None
        if amount < 500:
            return None
        result = self.service.redeem(
            self._request(event.at, BOOKING_SYSTEM),
            customer_id=self.customer_id,
            amount=amount,
            reason="Points used at checkout",
            booking_id=event.booking_id,
        )
        self.redeemed[event.booking_id] = amount
        return result

    def _on_complete(self, event: _Event) -> PostingResult:
        """The booking completed: it earns on what was paid in money."""
        assert event.booking_id is not None
        points_used = self.redeemed.get(event.booking_id, 0)
        paid = event.price_cents - points_used * self.service.config.point_value_cents
        return self.service.complete_booking(
            self._request(event.at, SYSTEM),
            customer_id=self.customer_id,
            booking_id=event.booking_id,
            completed_at=event.at,
            amount_cents=paid,
        )

    def _on_cancel(self, event: _Event) -> PostingResult:
        assert event.booking_id is not None
        return self.service.reverse_booking(
            self._request(event.at, SYSTEM),
            customer_id=self.customer_id,
            booking_id=event.booking_id,
            reason="Booking cancelled by the customer",
        )

    def _on_bonus(self, event: _Event) -> PostingResult:
        amount = self.rng.choice((200, 250, 500, 750, 1_000, 1_500, 2_000))
        actor = self.rng.choice((AGENT, *MANAGERS)) if amount < 1_000 else ADMIN
        if amount >= 1_000 and self.rng.random() < 0.6:
            actor = self.rng.choice(MANAGERS)
        return self.service.award(
            self._request(event.at, actor),
            customer_id=self.customer_id,
            amount=amount,
            reason=self.rng.choice(BONUS_REASONS),
        )

    def _on_promo(self, event: _Event) -> PostingResult:
        return self.service.award(
            self._request(event.at, self.rng.choice(MANAGERS)),
            customer_id=self.customer_id,
            amount=self.rng.choice((300, 500, 800)),
            reason="Winter promotion: bonus points valid for one month",
            expiry_date=event.at + timedelta(days=self.rng.randint(20, 32)),
        )

    def _on_deduct(self, event: _Event) -> PostingResult | None:
        amount = min(self.balance, self.rng.choice((100, 250, 500)))
        if amount <= 0:
            return None
        return self.service.deduct(
            self._request(event.at, self.rng.choice(MANAGERS)),
            customer_id=self.customer_id,
            amount=amount,
            reason=self.rng.choice(DEDUCT_REASONS),
        )

    def _on_extend(self, event: _Event) -> PostingResult | None:
        account = self._account()
        if account is None or not account.lots:
            return None
        lot = max(account.lots, key=lambda each: each.expires_at)
        return self.service.extend_expiry(
            self._request(event.at, self.rng.choice(MANAGERS)),
            point_batch_id=lot.point_batch_id,
            new_expiry_date=lot.expires_at + timedelta(days=60),
            reason="Customer working abroad; extension approved",
        )

    def _on_recover(self, event: _Event) -> PostingResult | None:
        if not self.unrecovered:
            return None
        return self.service.recover_expired(
            self._request(event.at, ADMIN),
            transaction_id=self.unrecovered[-1],
            reason="Customer was in hospital when the points expired",
            new_expiry_date=event.at + timedelta(days=120),
        )


def load_demo_data(
    service: PointsService,
    now: datetime,
    customers: int = DEFAULT_CUSTOMERS,
    *,
    seed: int = DEMO_SEED,
    workers: int = 4,
) -> DemoSummary:
    """Write the demo customers' ledgers as of `now` (timezone-aware); returns what was written.

    An interruption (Ctrl-C) stops every customer's story at its next event and re-raises.
    """
    if now.tzinfo is None:
        raise ValueError("now needs a timezone")
    cancelled = threading.Event()
    stories = [_Story(service, number, now, seed, cancelled) for number in range(1, customers + 1)]
    for story in stories:
        story.plan()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="demo-data")
    try:
        futures = [pool.submit(story.play) for story in stories]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in done:
            future.result()
    except BaseException:
        cancelled.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    # Every story ended with the expiry run at `now`: that is a finished expire-points run,
    # from which the scheduled runs carry on.
    ScheduleStore(service.store.client, service.store.table).advance_watermark(EXPIRE_POINTS, now)
    entries: Counter[str] = Counter()
    for story in stories:
        entries.update(story.entries)
    return DemoSummary(
        customer_ids=tuple(story.customer_id for story in stories),
        entries=entries,
        skipped=sum(story.skipped for story in stories),
    )
