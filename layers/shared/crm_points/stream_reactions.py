"""What each new item of the ledger's change stream causes outside the ledger.

The stream is the outbox (SPEC §5): a ledger write commits alone, and everything it causes
follows from the stream, so nothing is lost when a sender fails, and nothing undoes a write.

- A ledger entry: counted once in the analytics (§9); LARGE_REDEMPTION and NEGATIVE_BALANCE
  raised (§7); its `Points …` event put on the bus (§5); pointsAwarded / pointsExpired queued
  for the customer (§8).
- An expiring reminder: the POINTS_EXPIRING alert, the `Points Expiring` event, the
  pointsExpiring notification.
- An alert: `Alert Raised` on the bus; a NEGATIVE_BALANCE one goes to the ops topic at once.

Records come a batch at a time, again (retries, redelivery) and out of order. Alerts and
analytics count each entry once by themselves; the other effects are marked done in an
`EffectLog` after they succeed, and skipped when found done. The DynamoDB requests are per
batch, not per record (`Reactions.on_batch`).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from crm_points import notification_templates
from crm_points.alert_store import AlertStore
from crm_points.alerts import Alert, AlertType, new_alert
from crm_points.config import PointsConfig
from crm_points.ledger_store import AdminStore, EffectLog, model_from_item
from crm_points.logs import logger
from crm_points.notification_templates import (
    Channel,
    Kind,
    Notification,
    day,
    reminder_source,
)
from crm_points.published import PointTransaction
from crm_points.records import (
    CustomerProfile,
    ExpiringReminder,
    LedgerEntry,
    TransactionType,
    iso_utc,
)

# The events out of SPEC §5, by the entry type that makes them. REVERSAL and
# EXPIRY_EXTENDED make none (docs/events.md).
DETAIL_TYPES = {
    TransactionType.EARN: "Points Awarded",
    TransactionType.AWARD: "Points Awarded",
    TransactionType.REDEEM: "Points Redeemed",
    TransactionType.DEDUCT: "Points Deducted",
    TransactionType.EXPIRE: "Points Expired",
    TransactionType.RECOVER: "Points Recovered",
}
POINTS_EXPIRING = "Points Expiring"
ALERT_RAISED = "Alert Raised"

NewItem = LedgerEntry | ExpiringReminder | Alert


@dataclass(frozen=True)
class OutgoingEvent:
    """An event for the points bus, `source: crm.points`."""

    detail_type: str
    detail: dict[str, Any]
    time: datetime


_Message = TypeVar("_Message", "OutgoingEvent", Notification)


class Outside(Protocol):
    """Where the effects go (crm_points.outbound in AWS). The batch methods answer, for each
    message in order, whether it was taken."""

    def put_events(self, events: Sequence[OutgoingEvent]) -> list[bool]: ...

    def queue_notifications(self, found: Sequence[Notification]) -> list[bool]: ...

    def page_ops(self, alert: Alert, topic_arn: str | None = None) -> None: ...


class EntryCounter(Protocol):
    """The analytics aggregates: count each entry once, however often it is given."""

    def count_all(self, entries: Sequence[LedgerEntry]) -> int: ...


def new_item(image: dict[str, Any]) -> NewItem | None:
    """A new item of the table as the stream gives it (DynamoDB's typed form), as what it
    is; None for items that cause nothing (the stream's filter lets few of them through)."""
    entity = image.get("entity", {}).get("S")
    if entity == "ENTRY":
        return model_from_item(LedgerEntry, image)
    if entity == "REMINDER":
        return model_from_item(ExpiringReminder, image)
    if entity == "ALERT":
        return model_from_item(Alert, image)
    return None


def source_of(item: NewItem) -> str:
    """The name under which an item's outward effects are marked done."""
    if isinstance(item, LedgerEntry):
        return item.transaction_id
    if isinstance(item, ExpiringReminder):
        return f"reminder:{item.customer_id}:{iso_utc(item.run_time)}"
    return f"alert:{item.alert_id}"


def message_kind(item: NewItem) -> tuple[str, Kind] | None:
    """The customer message an item causes, if any: what its ids are made from
    (notification_templates.notification_id) and its kind. An AWARD made with
    notifyCustomer, an EXPIRE, an expiring reminder."""
    if isinstance(item, ExpiringReminder):
        return reminder_source(item), Kind.POINTS_EXPIRING
    if isinstance(item, LedgerEntry) and item.type is TransactionType.EXPIRE:
        return item.transaction_id, Kind.POINTS_EXPIRED
    if (
        isinstance(item, LedgerEntry)
        and item.type is TransactionType.AWARD
        and item.notify_customer
    ):
        return item.transaction_id, Kind.POINTS_AWARDED
    return None


def queued_mark(channel: Channel) -> str:
    """The effect of an item that marks its message of one channel queued."""
    return f"queued:{channel}"


def sent_mark(notification_id: str) -> str:
    """The name under which a message's sending is marked done (`deliver`)."""
    return f"notification:{notification_id}"


@dataclass
class _Plan:
    """A batch's outward effects, each with the batch position of the item that causes it,
    sent together and marked done together."""

    events: list[tuple[int, str, str, OutgoingEvent]] = field(default_factory=list)
    messages: list[tuple[int, str, str, Notification]] = field(default_factory=list)
    done: dict[str, set[str]] = field(default_factory=dict)
    failed: set[int] = field(default_factory=set)

    def did(self, source: str, effect: str) -> None:
        self.done.setdefault(source, set()).add(effect)

    def send(self, outside: Outside) -> None:
        """Send what was planned: the taken ones are done, the others fail their item."""
        self._settle(self.events, outside.put_events)
        self._settle(self.messages, outside.queue_notifications)

    def _settle(
        self,
        planned: list[tuple[int, str, str, _Message]],
        deliver: Callable[[list[_Message]], list[bool]],
    ) -> None:
        if not planned:
            return
        try:
            taken = deliver([message for *_, message in planned])
        except Exception:
            logger.exception("sending %d messages failed", len(planned))
            taken = [False] * len(planned)
        for (index, source, effect, _), ok in zip(planned, taken, strict=True):
            if ok:
                self.did(source, effect)
            else:
                self.failed.add(index)


@dataclass
class Reactions:
    """The stream consumer's work, a batch of new items at a time."""

    analytics: EntryCounter
    alerts: AlertStore
    admin: AdminStore
    effects: EffectLog
    outside: Outside
    config: Callable[[], PointsConfig]
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def on_batch(self, images: Sequence[dict[str, Any]]) -> int | None:
        """The new items of one stream batch, in stream order. Answers None when everything
        they cause is done, else the position of the first item whose effects are not all
        done: the stream delivers it again with every item after it, and what was done is
        skipped then.

        The DynamoDB requests are per batch, not per item: the entries are counted in one
        transaction per 98, the done-marks read in one BatchGetItem per 100 items and written
        in one BatchWriteItem per 25, the profiles read in one BatchGetItem; the events and
        notifications go out ten to a request. Only alerts (rare) cost requests of their own.
        """
        items = [new_item(image) for image in images]
        found = [(index, item) for index, item in enumerate(items) if item is not None]
        if not found:
            return None
        self.analytics.count_all([item for _, item in found if isinstance(item, LedgerEntry)])
        done = self.effects.done_many([source_of(item) for _, item in found])
        profiles = self.admin.profiles(
            [customer for _, item in found if (customer := self._customer_to_tell(item))]
        )
        plan = _Plan()
        stopped_at = None
        for index, item in found:
            try:
                self._react(index, item, done.get(source_of(item), set()), profiles, plan)
            except Exception:
                logger.exception("item %d of the batch failed", index)
                stopped_at = index
                break
        plan.send(self.outside)
        self.effects.mark_many(plan.done, done, self.clock())
        failed = plan.failed | ({stopped_at} if stopped_at is not None else set())
        return min(failed) if failed else None

    @staticmethod
    def _customer_to_tell(item: NewItem) -> str | None:
        """The customer an item may notify (so whose profile is needed), if any."""
        if isinstance(item, Alert) or message_kind(item) is None:
            return None
        return item.customer_id

    def _react(
        self,
        index: int,
        item: NewItem,
        done: set[str],
        profiles: dict[str, CustomerProfile],
        plan: _Plan,
    ) -> None:
        """Raise the item's alerts now; plan its event and notifications."""
        source = source_of(item)
        event, found = self._event_and_notifications(item, source, done, profiles, plan)
        if event is not None and "event" not in done:
            plan.events.append((index, source, "event", event))
        for notification in found:
            effect = queued_mark(notification.channel)
            if effect not in done:
                plan.messages.append((index, source, effect, notification))

    def _event_and_notifications(
        self,
        item: NewItem,
        source: str,
        done: set[str],
        profiles: dict[str, CustomerProfile],
        plan: _Plan,
    ) -> tuple[OutgoingEvent | None, list[Notification]]:
        if isinstance(item, LedgerEntry):
            self._raise_alerts(item)
            detail_type = DETAIL_TYPES.get(item.type)
            detail = PointTransaction.of(item).model_dump(
                mode="json", by_alias=True, exclude_none=True
            )
            event = OutgoingEvent(detail_type, detail, item.created_at) if detail_type else None
            return event, self._notifications_for(item, profiles.get(item.customer_id))
        if isinstance(item, ExpiringReminder):
            self._raise_expiring(item, source)
            detail = item.model_dump(mode="json", by_alias=True)
            profile = profiles.get(item.customer_id)
            return (
                OutgoingEvent(POINTS_EXPIRING, detail, item.run_time),
                notification_templates.points_expiring(item, profile, self.config()),
            )
        if item.type is AlertType.NEGATIVE_BALANCE and "ops" not in done:
            self.outside.page_ops(item, self.config().ops_topic_arn or None)
            plan.did(source, "ops")
        detail = item.model_dump(mode="json", by_alias=True, exclude_none=True)
        return OutgoingEvent(ALERT_RAISED, detail, item.created_at), []

    def _raise_expiring(self, reminder: ExpiringReminder, trigger: str) -> None:
        self.alerts.raise_alert(
            new_alert(
                AlertType.POINTS_EXPIRING,
                now=reminder.run_time,
                customer_id=reminder.customer_id,
                message=f"{reminder.points:,} points expire by {day(reminder.expires_at)}",
                data=reminder.model_dump(mode="json", by_alias=True),
            ),
            trigger,
        )

    def _raise_alerts(self, entry: LedgerEntry) -> None:
        config = self.config()
        before = entry.balance_after - entry.points
        if entry.type is TransactionType.REDEEM and -entry.points > config.large_redemption_points:
            self._raise_for_entry(
                entry,
                AlertType.LARGE_REDEMPTION,
                f"{-entry.points:,} points redeemed in one redemption",
                {"points": -entry.points, "threshold": config.large_redemption_points},
            )
        if entry.balance_after < 0 <= before:
            self._raise_for_entry(
                entry,
                AlertType.NEGATIVE_BALANCE,
                f"The balance went below zero: {entry.balance_after:,} points",
                {"type": entry.type.value, "balanceAfter": entry.balance_after},
            )

    def _raise_for_entry(
        self, entry: LedgerEntry, alert_type: AlertType, message: str, figures: dict[str, Any]
    ) -> None:
        """Raise an alert about the entry's customer, once per entry and alert type; its data
        are the figures that triggered it, between the entry's id and its booking's."""
        self.alerts.raise_alert(
            new_alert(
                alert_type,
                now=entry.created_at,
                customer_id=entry.customer_id,
                message=message,
                data={
                    "transactionId": entry.transaction_id,
                    **figures,
                    "bookingId": entry.booking_id,
                },
            ),
            f"entry:{entry.transaction_id}:{alert_type.value}",
        )

    def _notifications_for(
        self, entry: LedgerEntry, profile: CustomerProfile | None
    ) -> list[Notification]:
        if entry.type is TransactionType.AWARD and entry.notify_customer:
            return notification_templates.points_awarded(entry, profile)
        if entry.type is TransactionType.EXPIRE:
            return notification_templates.points_expired(entry, profile, self.config())
        return []


class Sender(Protocol):
    def send(self, notification: Notification, sender: str) -> None: ...


def deliver(
    notification: Notification,
    sender: Sender,
    effects: EffectLog,
    profiles: AdminStore,
    from_address: str,
    now: datetime,
) -> bool:
    """Send a queued notification once: a message delivered again is not sent again, and a
    message to a customer whose personal data was erased since it was queued is not sent.

    A failure raises, so the queue retries the message and, in the end, dead-letters it; the
    ledger is never touched. False when it had been sent already, or was withheld.
    """
    source = sent_mark(notification.notification_id)
    if "sent" in effects.done(source):
        return False
    if profiles.erased(notification.customer_id):
        # The message carries the address as it was when queued: it is no longer ours to use.
        logger.info(
            "notification withheld: the customer's personal data was erased",
            extra={"notificationId": notification.notification_id},
        )
        return False
    sender.send(notification, from_address)
    effects.mark(source, "sent", now)
    return True
