"""Ledger operations: read the account, apply a movement, commit it as one transaction.

Optimistic concurrency (SPEC §2.10): the account is read, the movement planned, and the
write conditioned on the version read; a writer that lost the race reads again, a bounded
number of times, then gets 409 CONFLICT (retryable). Idempotency (SPEC §2.9): the request's
record is written in that same transaction; a replay is answered from it.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from crm_points import ledger
from crm_points.config import PointsConfig
from crm_points.errors import (
    BookingNotCompleted,
    CancelledBeforeCompletion,
    Conflict,
    NotFound,
    PointsError,
    RedemptionExists,
    ValidationFailed,
)
from crm_points.ledger import BookingLedger, Context, Posting
from crm_points.ledger_store import (
    AdminStore,
    BookingRecords,
    LedgerStore,
    api_claim,
    booking_pk,
    idempotency_pk,
    refund_sk,
    refunds_guard,
)
from crm_points.records import (
    Account,
    Actor,
    Approval,
    ApprovalStatus,
    BookingRefunds,
    ExpiringReminder,
    LedgerEntry,
    PostingResult,
    TransactionType,
    iso_utc,
)
from crm_points.transactions import (
    CONFLICTS,
    Claim,
    ClaimTaken,
    Guard,
    Idempotent,
    Retry,
    StoredClaim,
    WriteConflict,
    fingerprint,
    is_transient,
    replay_answer,
    replayed,
    retries_exhausted,
)

_T = TypeVar("_T")
_R = TypeVar("_R", bound=BaseModel)


@dataclass(frozen=True)
class Request:
    """Who asks, when, and with which idempotency key."""

    actor: Actor
    request_id: str
    now: datetime
    idempotency_key: str


class PointsService:
    """The ledger's write and read operations over a `LedgerStore`."""

    def __init__(
        self,
        store: LedgerStore,
        config: PointsConfig | Callable[[], PointsConfig],
        *,
        max_attempts: int = CONFLICTS.attempts,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.admin = AdminStore(store.client, store.table)
        self._config = config
        self.max_attempts = max_attempts
        self.sleep = sleep

    @property
    def config(self) -> PointsConfig:
        """The configuration in force (a fixed one, or the latest from its source)."""
        return self._config if isinstance(self._config, PointsConfig) else self._config()

    # -- writes -----------------------------------------------------------------------

    def award(
        self,
        request: Request,
        *,
        customer_id: str,
        amount: int,
        reason: str,
        expiry_date: datetime | None = None,
        notify_customer: bool = False,
    ) -> PostingResult:
        """AWARD bonus points (CRM "Add Bonus Points")."""
        return self._api_write(
            request,
            "award",
            customer_id,
            ledger.award,
            amount=amount,
            reason=reason,
            expiry_date=expiry_date,
            notify_customer=notify_customer,
        )

    def deduct(
        self,
        request: Request,
        *,
        customer_id: str,
        amount: int,
        reason: str,
        allow_negative: bool = False,
    ) -> PostingResult:
        """DEDUCT points; `allow_negative` lets an ADMIN overdraw (SPEC §2.8)."""
        return self._api_write(
            request,
            "deduct",
            customer_id,
            ledger.deduct,
            amount=amount,
            reason=reason,
            allow_negative=allow_negative,
        )

    def redeem(
        self,
        request: Request,
        *,
        customer_id: str,
        amount: int,
        reason: str,
        booking_id: str | None = None,
    ) -> PostingResult:
        """REDEEM points; a booking has at most one redemption (SPEC §5)."""
        guards: tuple[Guard, ...] = ()
        if booking_id is not None:
            already = RedemptionExists(booking_id)
            guards = (Guard(booking_pk(booking_id), "REDEEM", already, put_result=True),)
        return self._api_write(
            request,
            "redeem",
            customer_id,
            ledger.redeem,
            guards=guards,
            amount=amount,
            reason=reason,
            booking_id=booking_id,
        )

    def extend_expiry(
        self, request: Request, *, point_batch_id: str, new_expiry_date: datetime, reason: str
    ) -> PostingResult:
        """Move an active lot's expiry later (CRM "Extend Expiration")."""
        customer_id = self._found(
            self.store.locate_lot, point_batch_id, "Point batch", "pointBatchId"
        )
        return self._api_write(
            request,
            "extend-expiry",
            customer_id,
            ledger.extend_expiry,
            point_batch_id=point_batch_id,
            new_expiry_date=new_expiry_date,
            reason=reason,
        )

    def recover_expired(
        self, request: Request, *, transaction_id: str, reason: str, new_expiry_date: datetime
    ) -> PostingResult:
        """RECOVER the points of one EXPIRE entry; a second time is 409 CONFLICT."""
        customer_id, kind = self._found(
            self.store.locate_transaction, transaction_id, "Transaction", "transactionId"
        )
        if kind != TransactionType.EXPIRE:
            raise ValidationFailed(
                "Only an EXPIRE transaction can be recovered",
                {"transactionId": transaction_id, "type": kind},
            )
        return self._api_write(
            request,
            "recover-expired",
            customer_id,
            ledger.recover_expired,
            expire_transaction_id=transaction_id,
            reason=reason,
            new_expiry_date=new_expiry_date,
        )

    def complete_booking(
        self,
        request: Request,
        *,
        customer_id: str,
        booking_id: str,
        completed_at: datetime,
        amount_cents: int,
        points_redeemed: int = 0,
    ) -> PostingResult:
        """A completed booking's EARN, reinstatement, rolling expiry and checkout REDEEM in
        one transaction, at most once per booking however often delivered.

        The booking's record is its idempotency key. A booking already cancelled writes
        nothing (CancelledBeforeCompletion); a redemption the booking system already made
        through the API is not made again; a redemption the points cannot cover refuses the
        whole booking (InsufficientPoints), so that a replay once the cause is fixed applies
        all of it. A booking that moves no points (under R1) is still recorded as completed,
        with no entry, so that its refunds and cancellation find it.
        """
        payload: dict[str, Any] = {
            "customerId": customer_id,
            "completedAt": completed_at,
            "amountCents": amount_cents,
        }
        if points_redeemed:
            payload["pointsRedeemed"] = points_redeemed
        claim = Claim(
            booking_pk(booking_id),
            "EARN",
            fingerprint("earn", payload),
            f"booking:{booking_id}:earn",
        )
        cancelled = Guard(
            booking_pk(booking_id),
            "REVERSAL",
            CancelledBeforeCompletion(booking_id),
        )

        def complete() -> PostingResult:
            redeem = points_redeemed
            if redeem and "REDEEM" in self._read(partial(self.store.booking_records, booking_id)):
                redeem = 0
            # The redemption's record is written with the posting, and only if still absent:
            # one made through the API meanwhile sends us round again, to skip it.
            guards: tuple[Guard, ...] = (cancelled,)
            if redeem:
                made = _BookingChanged("REDEEM")
                guards += (Guard(booking_pk(booking_id), "REDEEM", made, put_result=True),)
            return self._post(
                customer_id,
                claim,
                partial(
                    ledger.complete_booking,
                    customer_id=customer_id,
                    booking_id=booking_id,
                    completed_at=completed_at,
                    amount_cents=amount_cents,
                    points_redeemed=redeem,
                ),
                request,
                guards=guards,
                allow_empty=True,
            )

        return self._while_booking_moves(complete, booking_id, "completed")

    def reverse_booking(
        self, request: Request, *, customer_id: str, booking_id: str, reason: str
    ) -> PostingResult:
        """REVERSAL of a cancelled booking's EARN and REDEEM, once per booking.

        A cancellation that arrives before the booking's completion is recorded too, so the
        late completion earns nothing.
        """
        claim = Claim(
            booking_pk(booking_id),
            "REVERSAL",
            fingerprint("reverse", {"customerId": customer_id}),
            f"booking:{booking_id}:reversal",
        )

        def reverse() -> PostingResult:
            records = self._read(partial(self.store.booking_records, booking_id))
            booking = self._booking_ledger(records, booking_id, customer_id)
            # The reversal is only right if the booking's records are still as read.
            as_read = (
                *(
                    Guard.present(booking_pk(booking_id), kind, _BookingChanged(kind))
                    if kind in records
                    else Guard(booking_pk(booking_id), kind, _BookingChanged(kind))
                    for kind in ("EARN", "REDEEM")
                ),
                refunds_guard(booking_id, customer_id, records.refunds, _BookingChanged("REFUNDS")),
            )
            return self._post(
                customer_id,
                claim,
                partial(
                    ledger.reverse_booking,
                    customer_id=customer_id,
                    booking_id=booking_id,
                    booking=booking,
                    reason=reason,
                ),
                request,
                guards=as_read,
                allow_empty=True,
            )

        return self._while_booking_moves(reverse, booking_id, "reversed")

    def refund_booking(
        self,
        request: Request,
        *,
        customer_id: str,
        booking_id: str,
        refund_id: str,
        refunded_cents: int,
        refunded_at: datetime,
        reason: str,
    ) -> PostingResult | None:
        """A partial refund's REVERSAL entries (`ledger.refund_booking`), once per refund id
        however often delivered. None when nothing is left to take back: the booking was
        cancelled (its cancellation reversed all it had left), or moved no points. A booking
        not completed, or refunds passing its amount, raise and write nothing."""
        payload = {
            "customerId": customer_id,
            "refundedAmountCents": refunded_cents,
            "refundedAt": refunded_at,
        }
        claim = Claim(
            booking_pk(booking_id),
            refund_sk(refund_id),
            fingerprint("refund", payload),
            f"booking:{booking_id}:refund:{refund_id}",
        )

        def refund() -> PostingResult | None:
            records = self._read(partial(self.store.booking_records, booking_id))
            if claim.sk in records or "REVERSAL" in records:
                try:
                    self._raise_if_replay(claim)
                except ClaimTaken as taken:
                    return _replay(claim, taken.stored)
                return None
            if "EARN" not in records:
                raise BookingNotCompleted(booking_id)
            booking = self._booking_ledger(records, booking_id, customer_id)
            if booking.earn is None and booking.redeem is None:
                return None  # a completion that only brought back expired points
            after = ledger.refunds_after(booking, booking_id, refunded_cents)
            changed = _BookingChanged("REFUNDS")
            guards = (
                Guard.present(booking_pk(booking_id), "EARN", changed),
                Guard(booking_pk(booking_id), "REVERSAL", changed),
                refunds_guard(booking_id, customer_id, records.refunds, changed, after),
            )
            return self._post(
                customer_id,
                claim,
                partial(
                    ledger.refund_booking,
                    customer_id=customer_id,
                    booking_id=booking_id,
                    booking=booking,
                    after=after,
                    refund_id=refund_id,
                    refunded_cents=refunded_cents,
                    reason=reason,
                ),
                request,
                guards=guards,
                allow_empty=True,
            )

        return self._while_booking_moves(refund, booking_id, "refunded")

    def _booking_ledger(
        self, records: BookingRecords, booking_id: str, customer_id: str
    ) -> BookingLedger:
        """The booking's EARN, REDEEM, amount and refund totals as recorded; a booking of
        another customer is refused."""
        if any(record.customer_id != customer_id for record in records.results.values()):
            raise ValidationFailed(
                "The booking belongs to another customer", {"bookingId": booking_id}
            )
        earn = _entry_of(records.get("EARN"), TransactionType.EARN)
        redeem = _entry_of(records.get("REDEEM"), TransactionType.REDEEM)
        completion = records.get("EARN")
        amounts = [
            entry.booking_amount_cents
            for entry in (completion.transactions if completion else [])
            if entry.booking_amount_cents is not None
        ]
        return BookingLedger(
            earn=earn,
            redeem=redeem,
            amount_cents=amounts[0] if amounts else None,
            refunded=records.refunds or BookingRefunds(),
        )

    def expire(self, *, customer_id: str, now: datetime, request_id: str) -> PostingResult | None:
        """EXPIRE the customer's lots due at `now`; None when nothing is due.

        The run's time is the idempotency key: the same run repeated answers the same.
        """
        claim = Claim(
            idempotency_pk(f"expiry:{customer_id}:{iso_utc(now)}"),
            "REQUEST",
            fingerprint("expire", {"customerId": customer_id}),
            "expiry",
        )
        request = Request(ledger_system_actor(), request_id, now, claim.key)
        try:
            return self._post(
                customer_id,
                claim,
                lambda account, ctx: ledger.expire(account, ctx, customer_id=customer_id),
                request,
            )
        except _NothingToWrite:
            return None

    def remind_expiring(self, *, customer_id: str, now: datetime) -> ExpiringReminder | None:
        """Mark the customer's lots that entered the expiring window as reminded and record
        the reminder; None when none is due (a repeated run changes nothing)."""
        window = self.config.expiring_window_days

        def remind() -> ExpiringReminder | None:
            account = self.store.load_account(customer_id)
            planned = ledger.remind_expiring(account, now, window)
            if planned is None:
                return None
            posting, reminder = planned
            if not self.store.save_reminder(posting, reminder):
                return None
            return reminder

        return self._retry(WriteConflict).run(
            remind,
            lambda: retries_exhausted(
                "The account changed too often during the reminder run; try again",
                {"customerId": customer_id},
            ),
        )

    # -- approvals (SPEC §4) -----------------------------------------------------------

    def request_deduction(
        self,
        request: Request,
        *,
        customer_id: str,
        amount: int,
        reason: str,
        allow_negative: bool = False,
    ) -> Idempotent[Approval]:
        """Record a deduction that waits for another person's approval (202)."""
        self.account(customer_id)
        approval = Approval(
            approval_id=ledger.new_id(request.now),
            customer_id=customer_id,
            amount=amount,
            reason=reason,
            allow_negative=allow_negative,
            requested_by=request.actor,
            requested_at=request.now,
        )
        payload = {
            "customerId": customer_id,
            "amount": amount,
            "reason": reason,
            "allowNegative": allow_negative,
            "actor": request.actor.user_id,
        }
        taken = Conflict("Approval id collision; try again", retryable=True)
        return self._record(
            self._api_claim(request, "request-deduction", payload),
            approval,
            (self.admin.new_approval_guard(approval, taken),),
        )

    def approval(self, approval_id: str) -> Approval:
        """An approval, or 404."""
        return self._found(self.admin.approval, approval_id, "Approval", "approvalId")

    def approve(self, request: Request, approval: Approval, reason: str | None) -> PostingResult:
        """Make the approved deduction; the approval is marked APPROVED in the same
        transaction, so a deduction and its approval exist together or not at all."""
        decided_twice = _decided_twice(approval)
        if approval.status is not ApprovalStatus.PENDING:
            claim = self._decision_claim(request, "approve", approval, reason)
            return _replay(claim, self._decision_record(claim, decided_twice))

        def guards(posting: Posting | None) -> tuple[Guard, ...]:
            assert posting is not None
            decided = _decided(
                approval,
                ApprovalStatus.APPROVED,
                request,
                reason,
                transaction_id=posting.entries[0].transaction_id,
            )
            return (self.admin.approval_guard(decided, decided_twice),)

        return self._post(
            approval.customer_id,
            self._decision_claim(request, "approve", approval, reason),
            partial(
                ledger.deduct,
                customer_id=approval.customer_id,
                amount=approval.amount,
                reason=approval.reason,
                allow_negative=approval.allow_negative,
                approval_id=approval.approval_id,
            ),
            request,
            guards=guards,
        )

    def reject(
        self, request: Request, approval: Approval, reason: str | None
    ) -> Idempotent[Approval]:
        """Mark a pending approval REJECTED; nothing is deducted."""
        decided_twice = _decided_twice(approval)
        claim = self._decision_claim(request, "reject", approval, reason)
        if approval.status is not ApprovalStatus.PENDING:
            return replayed(claim, self._decision_record(claim, decided_twice), Approval)
        rejected = _decided(approval, ApprovalStatus.REJECTED, request, reason)
        return self._record(claim, rejected, (self.admin.approval_guard(rejected, decided_twice),))

    def _decision_claim(
        self, request: Request, decision: str, approval: Approval, reason: str | None
    ) -> Claim:
        payload = {
            "approvalId": approval.approval_id,
            "reason": reason,
            "actor": request.actor.user_id,
        }
        return self._api_claim(request, decision, payload)

    def _decision_record(self, claim: Claim, decided_twice: Conflict) -> StoredClaim:
        """The record of the request that decided an approval: it still answers that request
        (and refuses its key for another); anyone else's decision is `decided_twice`."""
        stored = self._read(partial(self.store.read_claim, claim))
        if stored is None:
            raise decided_twice
        return stored

    # -- configuration (SPEC §10) ------------------------------------------------------

    def stored_config(self) -> PointsConfig:
        """The configuration as stored now: defaults, overridden by what admins set."""
        settings, _ = self._read(self.admin.stored_config)
        return PointsConfig.model_validate(settings)

    def update_config(self, request: Request, changes: dict[str, Any]) -> Idempotent[PointsConfig]:
        """Change the keys named, keep the rest; the change is audited with who and when."""

        def change() -> Idempotent[PointsConfig]:
            settings, version = self._read(self.admin.stored_config)
            current = PointsConfig.model_validate(settings)
            updated = _valid_config({**settings, **changes})
            changed_at = iso_utc(request.now)
            audit = {
                "changedBy": request.actor.model_dump(mode="json", by_alias=True),
                "changedAt": changed_at,
                "changes": {
                    key: {
                        "old": current.model_dump(mode="json", by_alias=True).get(key),
                        "new": value,
                    }
                    for key, value in changes.items()
                },
            }
            claim = self._api_claim(
                request, "config", {"changes": changes, "actor": request.actor.user_id}
            )
            return self._record(
                claim,
                updated,
                self.admin.config_guards(
                    updated.model_dump(mode="json", by_alias=True, exclude_defaults=True),
                    version,
                    audit,
                    changed_at,
                    _ConfigMoved(),
                ),
                result_type=PointsConfig,
            )

        # The reads and the write retry DynamoDB's transient failures themselves.
        return self._retry(_ConfigMoved, transient=None).run(
            change,
            lambda: retries_exhausted(
                "The configuration changed while this request was being made; try again"
            ),
        )

    # -- reads ------------------------------------------------------------------------

    def account(self, customer_id: str) -> Account:
        """The account as of now, or 404; 409 (retryable) if it kept changing while read."""
        account = read_of_account(customer_id, lambda: self.store.load_account(customer_id))
        if account is None:
            raise NotFound(
                f"Customer {customer_id} has no points account", {"customerId": customer_id}
            )
        return account

    # -- the write loop ---------------------------------------------------------------

    def _found(self, locate: Callable[[str], _T | None], key: str, what: str, field: str) -> _T:
        """What `locate` finds under `key` (read with retries, like the writes), or 404:
        `{what} {key} does not exist`, with the key under `field` in the details."""
        found = self._read(partial(locate, key))
        if found is None:
            raise NotFound(f"{what} {key} does not exist", {field: key})
        return found

    def _read(self, read: Callable[[], _T]) -> _T:
        """A read outside the write loop, retried like it on transient failures; the last
        failure is raised as it came."""
        return self._retry().run(read)

    def _retry(
        self,
        *again: type[Exception],
        transient: Callable[[Exception], bool] | None = is_transient,
    ) -> Retry:
        """The retries of one operation (transactions.Retry) with this service's attempts
        and sleep: again after one of `again`, or a transient failure unless told."""
        return Retry(self.max_attempts, self.sleep, again, transient)

    def _while_booking_moves(self, attempt: Callable[[], _T], booking_id: str, doing: str) -> _T:
        """A booking's posting, made again while the booking's records change under it
        (`_post` retries the account's conflicts and DynamoDB's transient failures)."""
        return self._retry(_BookingChanged, transient=None).run(
            attempt,
            lambda: retries_exhausted(
                f"The booking changed while it was being {doing}; try again",
                {"bookingId": booking_id},
            ),
        )

    def _api_write(
        self,
        request: Request,
        operation: str,
        customer_id: str,
        movement: Callable[..., Posting],
        *,
        guards: tuple[Guard, ...] = (),
        **fields: Any,
    ) -> PostingResult:
        """A CRM write: the Idempotency-Key's record covers the operation, the customer, the
        caller and every field, and the movement is applied with those fields."""
        payload = {**fields, "customerId": customer_id, "actor": request.actor.user_id}
        claim = self._api_claim(request, operation, payload)
        plan = partial(movement, customer_id=customer_id, **fields)
        return self._post(customer_id, claim, plan, request, guards=guards)

    def _api_claim(self, request: Request, operation: str, payload: dict[str, Any]) -> Claim:
        """The record of a CRM request, under its Idempotency-Key."""
        return api_claim(request.actor.user_id, request.idempotency_key, operation, payload)

    def _record(
        self,
        claim: Claim,
        result: _R,
        guards: tuple[Guard, ...],
        result_type: type[_R] | None = None,
    ) -> Idempotent[_R]:
        """A write that is not a ledger posting (an approval, a config change): its record
        and its items in one transaction, idempotent like a posting."""
        kind = result_type or type(result)

        def write() -> Idempotent[_R]:
            self.store.commit(None, claim, result, guards)
            return Idempotent(result)

        try:
            return self._retry().run(
                write, lambda: retries_exhausted("DynamoDB did not answer; try again")
            )
        except ClaimTaken as taken:
            return replayed(claim, taken.stored, kind)

    def _post(
        self,
        customer_id: str,
        claim: Claim,
        plan: Callable[[Account | None, Context], Posting | None],
        request: Request,
        *,
        guards: tuple[Guard, ...] | Callable[[Posting | None], tuple[Guard, ...]] = (),
        allow_empty: bool = False,
    ) -> PostingResult:
        ctx = Context(
            now=request.now, actor=request.actor, request_id=request.request_id, config=self.config
        )
        retry = self._retry(WriteConflict)
        try:
            return retry.run(
                partial(self._attempt, customer_id, claim, plan, ctx, guards, allow_empty),
                lambda: retries_exhausted(
                    "The account changed too often while this request was being made; try again",
                    {
                        "customerId": customer_id,
                        "attempts": self.max_attempts,
                        "cause": _cause(retry.last_failure),
                    },
                ),
            )
        except ClaimTaken as taken:
            # Made before, or by an attempt of this call whose answer was lost.
            return _replay(claim, taken.stored)

    def _attempt(
        self,
        customer_id: str,
        claim: Claim,
        plan: Callable[[Account | None, Context], Posting | None],
        ctx: Context,
        guards: tuple[Guard, ...] | Callable[[Posting | None], tuple[Guard, ...]],
        allow_empty: bool,
    ) -> PostingResult:
        """One read-plan-commit round; a refused or empty plan first checks for a replay."""
        account = self.store.load_account(customer_id)
        try:
            posting = plan(account, ctx)
        except PointsError:
            self._raise_if_replay(claim)
            raise
        if posting is None and not allow_empty:
            self._raise_if_replay(claim)
            raise _NothingToWrite
        latest = posting.account if posting else account
        result = PostingResult(
            customer_id=customer_id,
            transactions=posting.entries if posting else [],
            current_balance=latest.current_balance if latest else 0,
        )
        checks = guards(posting) if callable(guards) else guards
        self.store.commit(posting, claim, result, checks, customer_id)
        return result

    def _raise_if_replay(self, claim: Claim) -> None:
        """An earlier request with this key answers this one, even if its plan now fails."""
        stored = self.store.read_claim(claim)
        if stored is not None:
            raise ClaimTaken(stored)


def read_of_account(customer_id: str, read: Callable[[], _T]) -> _T:
    """A read of a customer's account (and what is read with it): one that kept meeting
    writes half-way (WriteConflict) is a retryable 409."""
    try:
        return read()
    except WriteConflict:
        raise Conflict(
            "The account changed while it was being read; try again",
            {"customerId": customer_id},
            retryable=True,
        ) from None


class _NothingToWrite(Exception):
    """A movement that found nothing to do (an expiry run with nothing due)."""


class _BookingChanged(Exception):
    """A booking's EARN or REDEEM record appeared or vanished since it was read."""


def ledger_system_actor() -> Actor:
    return Actor(user_id="system")


class _ConfigMoved(Exception):
    """Someone else changed the configuration since it was read."""


def _valid_config(settings: dict[str, Any]) -> PointsConfig:
    """The configuration with these settings, or a 422 naming what is wrong."""
    try:
        return PointsConfig.model_validate(settings)
    except PydanticValidationError as invalid:
        problems = [
            {"field": ".".join(str(part) for part in problem["loc"]), "message": problem["msg"]}
            for problem in invalid.errors()
        ]
        raise ValidationFailed("The configuration is not valid", {"errors": problems}) from None


def _replay(claim: Claim, stored: StoredClaim) -> PostingResult:
    """A ledger write's first answer, marked as a replay."""
    return replay_answer(claim, stored, PostingResult).model_copy(update={"replayed": True})


def _decided_twice(approval: Approval) -> Conflict:
    """The 409 of a decision on an approval someone else decided first."""
    return Conflict("This approval was already decided", {"approvalId": approval.approval_id})


def _decided(
    approval: Approval,
    status: ApprovalStatus,
    request: Request,
    reason: str | None,
    **outcome: str,
) -> Approval:
    """The approval as this request decides it: its status, who, when and why, and what
    else the decision made (the deduction's `transaction_id`)."""
    return approval.model_copy(
        update={
            "status": status,
            "decided_by": request.actor,
            "decided_at": request.now,
            "decision_reason": reason,
            **outcome,
        }
    )


def _cause(failure: Exception | None) -> str:
    """What last sent a write round again, for the details of its 409."""
    if failure is None:
        return "no attempt"
    return str(failure) if isinstance(failure, WriteConflict) else type(failure).__name__


def _entry_of(result: PostingResult | None, kind: TransactionType) -> LedgerEntry | None:
    if result is None:
        return None
    return next((entry for entry in result.transactions if entry.type == kind), None)
