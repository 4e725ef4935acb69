"""What each new item of the ledger's change stream causes outside the ledger.

The stream is the outbox (SPEC §5): a ledger write commits alone, and everything it causes
follows from the stream, so nothing is lost when a sender fails, and nothing undoes a write.

- A ledger entry: counted once in the analytics (§9); LARGE_REDEMPTION and NEGATIVE_BALANCE
  raised (§7); its `Points …` event put on the bus (§5); pointsAwarded / pointsExpired queued
  for the customer (§8).
- An expiring reminder: the POINTS_EXPIRING alert, the `Points Expiring` event, the
  pointsExpiring notification.
- An alert: `Alert Raised` on the bus; a NEGATIVE_BALANCE one goes to the ops topic at once.

Records come again (retries, redelivery) and out of order. Alerts and analytics count each
entry once by themselves; the other effects are marked done in an `EffectLog` after they
succeed, and skipped when found done.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from crm_points import notifications
from crm_points.alert_store import AlertStore
from crm_points.alerts import Alert, AlertType, new_alert
from crm_points.config import PointsConfig
from crm_points.models import ExpiringReminder, LedgerEntry, TransactionType, iso_utc
from crm_points.notifications import Notification
from crm_points.store import AdminStore, EffectLog, model_from_item

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


class Outside(Protocol):
    """Where the effects go (crm_points.messaging in AWS)."""

    def put_event(self, detail_type: str, detail: dict[str, Any], time: datetime) -> None: ...

    def queue_notification(self, notification: Notification) -> None: ...

    def page_ops(self, alert: Alert, topic_arn: str | None = None) -> None: ...


class EntryCounter(Protocol):
    """The analytics aggregates: count an entry once, however often it is given."""

    def count(self, entry: LedgerEntry) -> bool: ...


@dataclass
class Reactions:
    """The stream consumer's work, one new item at a time."""

    analytics: EntryCounter
    alerts: AlertStore
    admin: AdminStore
    effects: EffectLog
    outside: Outside
    config: Callable[[], PointsConfig]
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def on_new_item(self, image: dict[str, Any]) -> None:
        """A new item of the table, as the stream gives it (DynamoDB's typed form); items
        other than entries, reminders and alerts cause nothing."""
        entity = image.get("entity", {}).get("S")
        if entity == "ENTRY":
            self.on_entry(model_from_item(LedgerEntry, image))
        elif entity == "REMINDER":
            self.on_reminder(model_from_item(ExpiringReminder, image))
        elif entity == "ALERT":
            self.on_alert(model_from_item(Alert, image))

    def on_entry(self, entry: LedgerEntry) -> None:
        """A new ledger entry."""
        self.analytics.count(entry)
        self._raise_alerts(entry)
        source = entry.transaction_id
        done = self.effects.done(source)
        detail_type = DETAIL_TYPES.get(entry.type)
        if detail_type and "event" not in done:
            detail = entry.model_dump(mode="json", by_alias=True, exclude_none=True)
            self.outside.put_event(detail_type, detail, entry.created_at)
            self.effects.mark(source, "event", self.clock())
        self._notify(source, done, self._notifications_for(entry))

    def on_reminder(self, reminder: ExpiringReminder) -> None:
        """A customer's reminder of an expiring-reminders run."""
        source = f"reminder:{reminder.customer_id}:{iso_utc(reminder.run_time)}"
        self.alerts.raise_alert(
            new_alert(
                AlertType.POINTS_EXPIRING,
                now=reminder.run_time,
                customer_id=reminder.customer_id,
                message=(
                    f"{reminder.points:,} points expire by {notifications.day(reminder.expires_at)}"
                ),
                data=reminder.model_dump(mode="json", by_alias=True),
            ),
            source,
        )
        done = self.effects.done(source)
        if "event" not in done:
            detail = reminder.model_dump(mode="json", by_alias=True)
            self.outside.put_event(POINTS_EXPIRING, detail, reminder.run_time)
            self.effects.mark(source, "event", self.clock())
        profile = self.admin.profile(reminder.customer_id)
        found = notifications.points_expiring(reminder, profile, self.config())
        self._notify(source, done, found)

    def on_alert(self, alert: Alert) -> None:
        """A new alert: on the bus, and to the ops topic at once if it is NEGATIVE_BALANCE."""
        source = f"alert:{alert.alert_id}"
        done = self.effects.done(source)
        if alert.type is AlertType.NEGATIVE_BALANCE and "ops" not in done:
            self.outside.page_ops(alert, self.config().ops_topic_arn or None)
            self.effects.mark(source, "ops", self.clock())
        if "event" not in done:
            detail = alert.model_dump(mode="json", by_alias=True, exclude_none=True)
            self.outside.put_event(ALERT_RAISED, detail, alert.created_at)
            self.effects.mark(source, "event", self.clock())

    def _raise_alerts(self, entry: LedgerEntry) -> None:
        config = self.config()
        before = entry.balance_after - entry.points
        trigger = f"entry:{entry.transaction_id}"
        if entry.type is TransactionType.REDEEM and -entry.points > config.large_redemption_points:
            self.alerts.raise_alert(
                new_alert(
                    AlertType.LARGE_REDEMPTION,
                    now=entry.created_at,
                    customer_id=entry.customer_id,
                    message=f"{-entry.points:,} points redeemed in one redemption",
                    data={
                        "transactionId": entry.transaction_id,
                        "points": -entry.points,
                        "threshold": config.large_redemption_points,
                        "bookingId": entry.booking_id,
                    },
                ),
                f"{trigger}:{AlertType.LARGE_REDEMPTION.value}",
            )
        if entry.balance_after < 0 <= before:
            self.alerts.raise_alert(
                new_alert(
                    AlertType.NEGATIVE_BALANCE,
                    now=entry.created_at,
                    customer_id=entry.customer_id,
                    message=f"The balance went below zero: {entry.balance_after:,} points",
                    data={
                        "transactionId": entry.transaction_id,
                        "type": entry.type.value,
                        "balanceAfter": entry.balance_after,
                        "bookingId": entry.booking_id,
                    },
                ),
                f"{trigger}:{AlertType.NEGATIVE_BALANCE.value}",
            )

    def _notifications_for(self, entry: LedgerEntry) -> list[Notification]:
        if entry.type is TransactionType.AWARD and entry.notify_customer:
            return notifications.points_awarded(entry, self.admin.profile(entry.customer_id))
        if entry.type is TransactionType.EXPIRE:
            profile = self.admin.profile(entry.customer_id)
            return notifications.points_expired(entry, profile, self.config())
        return []

    def _notify(self, source: str, done: set[str], found: list[Notification]) -> None:
        for notification in found:
            effect = f"queued:{notification.channel}"
            if effect not in done:
                self.outside.queue_notification(notification)
                self.effects.mark(source, effect, self.clock())


class Sender(Protocol):
    def send(self, notification: Notification, sender: str) -> None: ...


def deliver(
    notification: Notification, sender: Sender, effects: EffectLog, from_address: str, now: datetime
) -> bool:
    """Send a queued notification once: a message delivered again is not sent again.

    A failure raises, so the queue retries the message and, in the end, dead-letters it; the
    ledger is never touched. False when it had been sent already.
    """
    source = f"notification:{notification.notification_id}"
    if "sent" in effects.done(source):
        return False
    sender.send(notification, from_address)
    effects.mark(source, "sent", now)
    return True
