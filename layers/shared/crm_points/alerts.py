"""Alerts (SPEC §7): what needs a person's attention, and how it is worked through.

An alert is about one subject: a customer (POINTS_EXPIRING, LARGE_REDEMPTION,
NEGATIVE_BALANCE) or a month (HIGH_EXPIRATION_RATE, LOW_REDEMPTION_RATE). It moves
OPEN -> ACKNOWLEDGED -> RESOLVED (or OPEN -> RESOLVED); while it is unresolved the same
trigger on the same subject counts another occurrence instead of making a second alert
(`crm_points.alert_store`). Plain Python: nothing here does I/O.
"""

import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field

from crm_points.ledger import new_id
from crm_points.records import Actor, CamelModel, UtcDateTime

MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"


class AlertType(StrEnum):
    """The alerts of §7: three about a customer, two about a month."""

    POINTS_EXPIRING = "POINTS_EXPIRING"
    LARGE_REDEMPTION = "LARGE_REDEMPTION"
    NEGATIVE_BALANCE = "NEGATIVE_BALANCE"
    HIGH_EXPIRATION_RATE = "HIGH_EXPIRATION_RATE"
    LOW_REDEMPTION_RATE = "LOW_REDEMPTION_RATE"

    @property
    def about_a_month(self) -> bool:
        """A system alert, about a month's figures (§9), rather than about a customer."""
        return self in _MONTHLY


_MONTHLY = frozenset({AlertType.HIGH_EXPIRATION_RATE, AlertType.LOW_REDEMPTION_RATE})


class AlertPriority(StrEnum):
    """§7's priorities, spelled in capitals on the wire like every enum of the API."""

    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class AlertStatus(StrEnum):
    """OPEN -> ACKNOWLEDGED -> RESOLVED, or OPEN -> RESOLVED."""

    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    RESOLVED = "RESOLVED"


PRIORITIES: dict[AlertType, AlertPriority] = {
    AlertType.POINTS_EXPIRING: AlertPriority.MEDIUM,
    AlertType.LARGE_REDEMPTION: AlertPriority.LOW,
    AlertType.NEGATIVE_BALANCE: AlertPriority.HIGH,
    AlertType.HIGH_EXPIRATION_RATE: AlertPriority.MEDIUM,
    AlertType.LOW_REDEMPTION_RATE: AlertPriority.LOW,
}

ACTIONS: dict[AlertType, str] = {
    AlertType.POINTS_EXPIRING: "Show in customer profile + send notification",
    AlertType.LARGE_REDEMPTION: "Flag for manager review",
    AlertType.NEGATIVE_BALANCE: "Immediate admin notification",
    AlertType.HIGH_EXPIRATION_RATE: "Business strategy review",
    AlertType.LOW_REDEMPTION_RATE: "Points value adjustment needed",
}


class Alert(CamelModel):
    """One alert (SPEC §7), as stored and as the API answers it."""

    alert_id: str
    type: AlertType
    priority: AlertPriority
    status: AlertStatus = AlertStatus.OPEN
    action: str = Field(description="What is expected of whoever picks the alert up (SPEC §7)")
    customer_id: str | None = Field(default=None, description="The customer it is about")
    month: str | None = Field(
        default=None,
        pattern=MONTH_PATTERN,
        description="The month a system alert is about (YYYY-MM, Africa/Johannesburg)",
    )
    message: str
    data: dict[str, Any] = Field(
        default_factory=dict, description="The figures of the latest trigger"
    )
    created_at: UtcDateTime
    occurrences: int = Field(
        default=1, ge=1, description="How many times it was triggered while unresolved"
    )
    last_triggered_at: UtcDateTime
    acknowledged_by: Actor | None = None
    acknowledged_at: UtcDateTime | None = None
    acknowledge_note: str | None = None
    resolved_by: Actor | None = None
    resolved_at: UtcDateTime | None = None
    resolve_note: str | None = None

    @property
    def subject(self) -> str:
        """What the alert is about, as one text: `CUSTOMER#{customerId}` or `MONTH#{month}`."""
        if self.month is not None:
            return f"MONTH#{self.month}"
        return f"CUSTOMER#{self.customer_id}"


def new_alert(
    type: AlertType,
    *,
    now: datetime,
    message: str,
    data: dict[str, Any],
    customer_id: str | None = None,
    month: str | None = None,
) -> Alert:
    """A new OPEN alert of this type, with its priority and action from §7.

    A customer alert names the customer; a system alert (HIGH_EXPIRATION_RATE,
    LOW_REDEMPTION_RATE) names the month, as `YYYY-MM`. Anything else is a ValueError: it is
    a mistake of the caller, not of a user's input.
    """
    if type.about_a_month:
        if month is None or customer_id is not None:
            raise ValueError(f"a {type.value} alert is about a month, not a customer")
        if not re.fullmatch(MONTH_PATTERN, month):
            raise ValueError(f"month must be YYYY-MM, not {month!r}")
    elif customer_id is None or month is not None:
        raise ValueError(f"a {type.value} alert is about a customer, not a month")
    return Alert(
        alert_id=new_id(now),
        type=type,
        priority=PRIORITIES[type],
        action=ACTIONS[type],
        customer_id=customer_id,
        month=month,
        message=message,
        data=data,
        created_at=now,
        last_triggered_at=now,
    )


def acknowledged(alert: Alert, actor: Actor, now: datetime, note: str | None) -> Alert:
    """The alert as acknowledged: someone has seen it and is on it."""
    return alert.model_copy(
        update={
            "status": AlertStatus.ACKNOWLEDGED,
            "acknowledged_by": actor,
            "acknowledged_at": now,
            "acknowledge_note": note,
        }
    )


def resolved(alert: Alert, actor: Actor, now: datetime, note: str | None) -> Alert:
    """The alert as resolved: its subject may raise a new alert of this type from now on."""
    return alert.model_copy(
        update={
            "status": AlertStatus.RESOLVED,
            "resolved_by": actor,
            "resolved_at": now,
            "resolve_note": note,
        }
    )


def triggered_again(alert: Alert, trigger: Alert) -> Alert:
    """An unresolved alert triggered once more: one more occurrence, and the message and
    figures of the latest trigger (what is true now; a trigger older than the last one,
    delivered late, only counts). Its status is left as it is."""
    update: dict[str, Any] = {"occurrences": alert.occurrences + 1}
    if trigger.created_at >= alert.last_triggered_at:
        update |= {
            "last_triggered_at": trigger.created_at,
            "message": trigger.message,
            "data": trigger.data,
        }
    return alert.model_copy(update=update)
