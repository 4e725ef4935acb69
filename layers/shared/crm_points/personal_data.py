"""A customer's personal data under POPIA (and the GDPR where it applies): everything held
about them as one document, and its erasure (docs/security.md, "Personal data (POPIA)").

What is personal is the profile: e-mail, phone, names and notification choices, which the
booking system sends. The ledger, the alerts, the reminders and the records of what was
sent name the customer by id. An erasure removes the profile's contact details (and so its
place in EmailIndex), stops every message (`erasedAt` on the profile, which the messages
read when they are made and again when they are sent), and takes the profile's values out
of the text of the customer's alerts and ledger entries. The ledger's amounts, dates and ids
stay as they were: they are the business's financial record.
"""

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, get_args

from crm_points.account_reads import expiration_schedule
from crm_points.alert_store import AlertStore
from crm_points.alerts import Alert
from crm_points.api_models import (
    AccountFigures,
    NotificationRecord,
    PersonalDataResponse,
    Retention,
)
from crm_points.errors import NotFound
from crm_points.ledger_service import PointsService, Request
from crm_points.ledger_store import DONE_MARK_DAYS, CustomerRecords, EffectLog, api_claim
from crm_points.logs import logger
from crm_points.notification_templates import Channel, Kind, notification_id
from crm_points.published import published
from crm_points.records import CustomerProfile, Erasure, ExpiringReminder, LedgerEntry
from crm_points.stream_reactions import message_kind, queued_mark, sent_mark, source_of
from crm_points.transactions import (
    Claim,
    ClaimTaken,
    Idempotent,
    Retry,
    WriteConflict,
    replayed,
    retries_exhausted,
)

# What takes the place of a customer's details in the text that kept them.
ERASED = "[erased]"
# The profile's personal fields, by their names on the wire.
PERSONAL_FIELDS = {
    "email": "email",
    "phone": "phone",
    "first_name": "firstName",
    "last_name": "lastName",
}
# Shorter values are not looked for in other text: a one-letter name would take out every
# word "A" of an alert's message.
SHORTEST_VALUE = 2
# How long the notifications queue and its dead-letter queue keep a message
# (template.yaml, MessageRetentionPeriod of NotificationsQueue and NotificationsDeadLetters).
QUEUE_DAYS = 4
DEAD_LETTER_DAYS = 14

RETENTION = [
    Retention(
        data="profile",
        kept="In the points table until erased (POST /customers/{customerId}/erase) or "
        "replaced by the booking system's next Customer Updated or Booking Completed event",
    ),
    Retention(
        data="transactions",
        kept="For good: the ledger is the business's financial record. An erasure takes the "
        "profile's e-mail, phone and names out of their reason and description; amounts, "
        "dates and ids stay",
    ),
    Retention(
        data="expiringReminders",
        kept="For good, beside the ledger: which lots the customer was reminded of (no "
        "contact details)",
    ),
    Retention(
        data="alerts",
        kept="For good, as the audit of how each was dealt with. An erasure takes the "
        "profile's e-mail, phone and names out of their text",
    ),
    Retention(
        data="notifications",
        kept=f"The record of each message queued and sent (its id, kind and channel) for "
        f"{DONE_MARK_DAYS} days after it was queued or sent, then deleted by DynamoDB's TTL. "
        f"The message itself (address and words) waits in the notifications queue until "
        f"sent, {QUEUE_DAYS} days at most, and one that keeps failing in its dead-letter queue "
        f"{DEAD_LETTER_DAYS} days; one still waiting when the customer is erased is not sent. "
        f"SES and SNS keep their own delivery records",
    ),
    Retention(
        data="erasures",
        kept="For good: who erased the customer's data, when and why",
    ),
]


# -- the rules: what is personal, and what an erasure makes of it ---------------------------


def personal_values(profile: CustomerProfile | None) -> list[str]:
    """The profile's contact details as text to look for elsewhere, longest first (an
    e-mail address before the first name it may begin with)."""
    if profile is None:
        return []
    found = {
        value.strip()
        for name in PERSONAL_FIELDS
        if (value := getattr(profile, name)) and len(value.strip()) >= SHORTEST_VALUE
    }
    return sorted(found, key=lambda value: (-len(value), value))


def scrub(text: str, values: Sequence[str]) -> str:
    """`text` with each of `values`, as a whole word in any case, written as [erased]."""
    for value in values:
        text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", ERASED, text, flags=re.IGNORECASE)
    return text


def _scrubbed(value: Any, values: Sequence[str]) -> Any:
    """A JSON value (an alert's figures) with every text in it scrubbed."""
    if isinstance(value, str):
        return scrub(value, values)
    if isinstance(value, list):
        return [_scrubbed(item, values) for item in value]
    if isinstance(value, dict):
        return {key: _scrubbed(item, values) for key, item in value.items()}
    return value


def scrubbed_alert(alert: Alert, values: Sequence[str]) -> Alert:
    """The alert with the customer's details taken out of its message, figures and notes;
    its status and who dealt with it stay."""

    def text(value: str | None) -> str | None:
        return None if value is None else scrub(value, values)

    return alert.model_copy(
        update={
            "message": scrub(alert.message, values),
            "data": _scrubbed(alert.data, values),
            "acknowledge_note": text(alert.acknowledge_note),
            "resolve_note": text(alert.resolve_note),
        }
    )


def erased_profile(
    customer_id: str, profile: CustomerProfile | None, now: datetime
) -> CustomerProfile:
    """What is left of a profile once erased: no contact details, no messages, and the
    marker. Its `updatedAt` is never earlier than the profile's, so an event older than
    the erasure still does not overwrite it."""
    return CustomerProfile(
        customer_id=customer_id,
        notify_email=False,
        notify_sms=False,
        updated_at=max(now, profile.updated_at) if profile else now,
        erased_at=now,
    )


# -- the document ----------------------------------------------------------------------------


def export(
    service: PointsService,
    alerts: AlertStore,
    effects: EffectLog,
    customer_id: str,
    now: datetime,
) -> PersonalDataResponse:
    """Everything held about the customer, read as of now: the partition (one Query,
    followed through its pages), the alerts (one Query of AlertSubjectIndex), the records
    of the messages (one BatchGetItem per 100 of them). 404 for a customer with neither a
    profile nor an account."""
    records = service.store.customer_records(customer_id)
    if not records.known:
        raise NotFound(f"Customer {customer_id} is not known", {"customerId": customer_id})
    account = records.account
    return PersonalDataResponse(
        customer_id=customer_id,
        generated_at=now,
        profile=records.profile,
        account=None
        if account is None
        else AccountFigures(
            current_balance=account.current_balance,
            lifetime_earned=account.lifetime_earned,
            lifetime_redeemed=account.lifetime_redeemed,
            lifetime_expired=account.lifetime_expired,
            created_at=account.created_at,
            updated_at=account.updated_at,
            expiration_schedule=expiration_schedule(account),
        ),
        transactions=published(records.entries),
        expiring_reminders=records.reminders,
        alerts=alerts.every_one_about(customer_id),
        notifications=_notifications(effects, records),
        erasures=records.erasures,
        retention=RETENTION,
    )


CHANNELS: tuple[Channel, ...] = get_args(Channel)


@dataclass(frozen=True)
class _Cause:
    """An item that causes a message to the customer: the kind of message, and the names
    its records are kept under."""

    item: LedgerEntry | ExpiringReminder
    kind: Kind
    source: str  # the item's done-mark, where its queueing is recorded (source_of)
    ids: dict[Channel, str]  # its messages' ids, by channel: where their sending is

    def record(self, channel: Channel, queued: bool, sent: bool) -> NotificationRecord:
        """The record of its message on one channel."""
        if isinstance(self.item, LedgerEntry):
            about: dict[str, Any] = {
                "transaction_id": self.item.transaction_id,
                "about_at": self.item.created_at,
            }
        else:
            about = {"reminder_run_time": self.item.run_time, "about_at": self.item.run_time}
        return NotificationRecord(
            notification_id=self.ids[channel],
            kind=self.kind,
            channel=channel,
            queued=queued,
            sent=sent,
            **about,
        )


def _notifications(effects: EffectLog, records: CustomerRecords) -> list[NotificationRecord]:
    """The customer's messages as the done-marks record them: queued by the change stream
    (on the item that caused it), sent by the sender (on the message's id)."""
    causes: list[_Cause] = []
    items: Iterable[LedgerEntry | ExpiringReminder] = [*records.entries, *records.reminders]
    for item in items:
        found = message_kind(item)
        if found is not None:
            source_id, kind = found
            ids = {channel: notification_id(source_id, kind, channel) for channel in CHANNELS}
            causes.append(_Cause(item, kind, source_of(item), ids))
    keys = {cause.source for cause in causes}
    keys |= {sent_mark(message) for cause in causes for message in cause.ids.values()}
    done = effects.done_many(sorted(keys)) if keys else {}
    found_records = []
    for cause in causes:
        for channel in CHANNELS:
            queued = queued_mark(channel) in done.get(cause.source, set())
            sent = "sent" in done.get(sent_mark(cause.ids[channel]), set())
            if queued or sent:
                found_records.append(cause.record(channel, queued, sent))
    return sorted(found_records, key=lambda record: (record.about_at, record.notification_id))


# -- the erasure -----------------------------------------------------------------------------


class _ProfileMoved(Exception):
    """The profile changed since it was read (a booking event, another erasure)."""


def erase(
    service: PointsService,
    alerts: AlertStore,
    request: Request,
    customer_id: str,
    reason: str,
) -> Idempotent[Erasure]:
    """Erase the customer's personal data, once: the profile's erased form, the erasure
    record and the request's idempotency record in one transaction, with the rewrites of
    the customer's alerts and entries that name them. A customer erased already is answered
    with that erasure (and the key recorded for it); the same key again answers the same.
    404 for a customer with neither a profile nor an account."""
    payload = {"customerId": customer_id, "reason": reason, "actor": request.actor.user_id}
    claim = api_claim(request.actor.user_id, request.idempotency_key, "erase", payload)
    retry = Retry(service.max_attempts, service.sleep, (_ProfileMoved, WriteConflict))
    attempt: Callable[[], Erasure] = partial(
        _erase_once, service, alerts, request, customer_id, reason, claim
    )
    try:
        erasure = retry.run(
            attempt,
            lambda: retries_exhausted(
                "The customer's records changed while they were being erased; try again",
                {"customerId": customer_id},
            ),
        )
    except ClaimTaken as taken:
        return replayed(claim, taken.stored, Erasure)
    return Idempotent(erasure)


def _erase_once(
    service: PointsService,
    alerts: AlertStore,
    request: Request,
    customer_id: str,
    reason: str,
    claim: Claim,
) -> Erasure:
    """One read-decide-commit round of an erasure."""
    records = service.store.customer_records(customer_id)
    if not records.known:
        raise NotFound(f"Customer {customer_id} is not known", {"customerId": customer_id})
    profile = records.profile
    admin = service.admin
    erased_at = profile.erased_at if profile is not None else None
    # The erasure that erased the profile; none when its record is gone (a table restored in
    # part): then the customer is erased again, recorded anew.
    earlier = next((e for e in records.erasures if e.erased_at == erased_at), None)
    if erased_at is not None and earlier is not None:
        still = admin.still_erased_guard(customer_id, erased_at, _ProfileMoved())
        admin.commit_erasure(claim, earlier, (still,))
        return earlier
    values = personal_values(profile)
    # Without contact details there is nothing to look for in the alerts and entries.
    rewritten = (
        alerts.rewrites(customer_id, partial(scrubbed_alert, values=values)) if values else []
    )
    redacted = []
    for entry in records.entries:
        why, what = scrub(entry.reason, values), scrub(entry.description, values)
        if (why, what) != (entry.reason, entry.description):
            redacted.append((entry, why, what))
    erasure = Erasure(
        customer_id=customer_id,
        erased_at=request.now,
        erased_by=request.actor,
        reason=scrub(reason, values),
        removed_fields=[
            wire for name, wire in PERSONAL_FIELDS.items() if profile and getattr(profile, name)
        ],
        rewritten_alerts=[alert.alert_id for alert, _ in rewritten],
        redacted_transactions=[entry.transaction_id for entry, _, _ in redacted],
    )
    guards = admin.erasure_guards(
        erasure, erased_profile(customer_id, profile, request.now), profile, _ProfileMoved()
    )
    changes = [put for _, put in rewritten]
    changes += [service.store.redaction(entry, why, what) for entry, why, what in redacted]
    admin.commit_erasure(claim, erasure, guards, changes)
    # The id alone (no detail of the customer): what makes an erasure again after the
    # table is restored to an earlier moment (docs/operations.md, "Erasures and restores").
    logger.info(
        "personal data erased",
        extra={"customerId": customer_id, "erasedAt": erasure.erased_at.isoformat()},
    )
    return erasure
