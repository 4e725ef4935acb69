"""The customer notifications of SPEC §8: the seed's templates, word for word.

An e-mail's subject is the template's line; its body repeats the line, then the details.
An SMS is the line. Numbers carry thousands separators (2,500), dates read `15 Dec 2024`
(Africa/Johannesburg). A channel is used only where the profile has the address and the
customer has not opted out. Plain Python: sending is crm_points.outbound's job.
"""

from datetime import datetime
from enum import StrEnum
from typing import Literal

from crm_points.config import PointsConfig
from crm_points.records import CamelModel, CustomerProfile, ExpiringReminder, LedgerEntry, iso_utc
from crm_points.validation import business_day, business_time

# The seed's CRM_NOTIFICATIONS.
POINTS_AWARDED_EMAIL = "🎉 {amount} bonus points awarded! Reason: {reason}"
POINTS_AWARDED_SMS = "Bonus: +{amount} pts! Total: {balance} pts. Expires: {expiry}"
POINTS_EXPIRING_EMAIL = "⏰ {amount} points expire in {days} days. Use them now!"
POINTS_EXPIRING_SMS = "{amount} pts expire {date}. Book now to extend: {bookingLink}"
POINTS_EXPIRED_EMAIL = "❌ {amount} points expired. Book a service to reactivate."
POINTS_EXPIRED_SMS = "{amount} pts expired. Next booking extends all points!"


class Kind(StrEnum):
    POINTS_AWARDED = "pointsAwarded"
    POINTS_EXPIRING = "pointsExpiring"
    POINTS_EXPIRED = "pointsExpired"


Channel = Literal["email", "sms"]


class Notification(CamelModel):
    """One message to one address. `notification_id` names it for good: the sender sends
    each id at most once, however often it is queued."""

    notification_id: str
    kind: Kind
    channel: Channel
    customer_id: str
    to: str
    subject: str | None = None
    body: str


def number(value: int) -> str:
    """2500 -> "2,500"."""
    return f"{value:,}"


def day(moment: datetime) -> str:
    """A moment as the customer's calendar day: `15 Dec 2024`."""
    local = business_time(moment)
    return f"{local.day} {local:%b %Y}"


def _greeting(profile: CustomerProfile) -> str:
    return f"Hi {profile.first_name}," if profile.first_name else "Hi,"


def notification_id(source_id: str, kind: Kind, channel: Channel) -> str:
    """The id of the message of one channel about one source (an entry's transactionId, a
    reminder's `reminder_source`): what makes the sender send it once."""
    return f"{source_id}:{kind.value}:{channel}"


def reminder_source(reminder: ExpiringReminder) -> str:
    """What a pointsExpiring message's id is made from: the customer and the run."""
    return f"{reminder.customer_id}:{iso_utc(reminder.run_time)}"


def _messages(
    source_id: str,
    kind: Kind,
    profile: CustomerProfile | None,
    email_line: str,
    email_details: str,
    sms_line: str,
) -> list[Notification]:
    # An erased customer is told nothing, whatever is left of the profile.
    if profile is None or profile.erased_at is not None:
        return []

    def message(channel: Channel, to: str, body: str, subject: str | None = None) -> Notification:
        """The message of one channel; its id (source, kind, channel) is what makes the
        sender send it once."""
        return Notification(
            notification_id=notification_id(source_id, kind, channel),
            kind=kind,
            channel=channel,
            customer_id=profile.customer_id,
            to=to,
            subject=subject,
            body=body,
        )

    found = []
    if profile.email and profile.notify_email:
        body = f"{email_line}\n\n{_greeting(profile)}\n\n{email_details}\n"
        found.append(message("email", profile.email, body, subject=email_line))
    if profile.phone and profile.notify_sms:
        found.append(message("sms", profile.phone, sms_line))
    return found


def points_awarded(entry: LedgerEntry, profile: CustomerProfile | None) -> list[Notification]:
    """pointsAwarded, for an AWARD made with `notifyCustomer: true`."""
    amount, balance = number(entry.points), number(entry.balance_after)
    expiry = day(entry.expires_at) if entry.expires_at else ""
    details = f"Your balance is now {balance} points."
    if expiry:
        details += f" These {amount} points expire on {expiry}."
    return _messages(
        entry.transaction_id,
        Kind.POINTS_AWARDED,
        profile,
        POINTS_AWARDED_EMAIL.format(amount=amount, reason=entry.reason),
        details,
        POINTS_AWARDED_SMS.format(amount=amount, balance=balance, expiry=expiry),
    )


def points_expiring(
    reminder: ExpiringReminder, profile: CustomerProfile | None, config: PointsConfig
) -> list[Notification]:
    """pointsExpiring, once per customer per reminder run."""
    amount = number(reminder.points)
    today = business_day(reminder.run_time)
    days = (business_day(reminder.expires_at) - today).days
    lines = [f"- {number(lot.points)} points on {day(lot.expires_at)}" for lot in reminder.lots]
    details = (
        "These points expire soon:\n"
        + "\n".join(lines)
        + f"\n\nBook a service to keep all your points for longer: {config.booking_link}"
    )
    return _messages(
        reminder_source(reminder),
        Kind.POINTS_EXPIRING,
        profile,
        POINTS_EXPIRING_EMAIL.format(amount=amount, days=days),
        details,
        POINTS_EXPIRING_SMS.format(
            amount=amount, date=day(reminder.expires_at), bookingLink=config.booking_link
        ),
    )


def points_expired(
    entry: LedgerEntry, profile: CustomerProfile | None, config: PointsConfig
) -> list[Notification]:
    """pointsExpired, for an EXPIRE entry (one per customer per expiry run)."""
    amount = number(-entry.points)
    details = (
        f"Your balance is now {number(entry.balance_after)} points. A booking within "
        f"{config.reinstatement_days} days brings the expired points back: {config.booking_link}"
    )
    return _messages(
        entry.transaction_id,
        Kind.POINTS_EXPIRED,
        profile,
        POINTS_EXPIRED_EMAIL.format(amount=amount),
        details,
        POINTS_EXPIRED_SMS.format(amount=amount),
    )
