"""The events the functions receive: the booking system's events on the points bus (SPEC §5),
and the Scheduler's daily runs (SPEC §6).

Unknown fields of booking events are ignored: the booking system may add to its events
without breaking us. docs/events/ publishes these models as JSON Schemas for the booking
system's team.
"""

from typing import Annotated, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from crm_points.records import UtcDateTime
from crm_points.validation import (
    Flag,
    Id,
    PlainText,
    PlainTextSchema,
    WholeNumber,
    within_calendar,
)


class _Detail(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


# Names and contacts go into e-mails and onto screens: plain text like a reason.
Text = Annotated[str, StringConstraints(min_length=1, max_length=200), PlainText, PlainTextSchema]
CalendarTime = Annotated[UtcDateTime, AfterValidator(within_calendar)]
# The customer's word that their details may be kept again after an erasure (POPIA).
Consent = Annotated[
    bool,
    Field(
        strict=True,
        description="true: the customer agreed (again) that the CRM keeps these contact "
        "details. A customer whose personal data was erased gets them back only with it; "
        "without it the event's e-mail, phone and names are not stored (docs/api.md, "
        "Personal data)",
    ),
]


class BookingCustomer(_Detail):
    email: Text | None = None
    phone: Text | None = None
    first_name: Text | None = None
    last_name: Text | None = None
    personal_data_consent: Consent = False


class BookingCompleted(_Detail):
    """detail-type `Booking Completed`."""

    booking_id: Id
    customer_id: Id
    completed_at: CalendarTime
    amount_cents: Annotated[int, Field(strict=True, ge=0, le=10**10), WholeNumber]
    currency: Literal["ZAR"]
    points_redeemed: Annotated[int, Field(strict=True, ge=0, le=1_000_000), WholeNumber] = 0
    customer: BookingCustomer | None = None


class BookingCancelled(_Detail):
    """detail-type `Booking Cancelled`."""

    booking_id: Id
    customer_id: Id
    reason: Annotated[
        str, StringConstraints(min_length=1, max_length=500), PlainText, PlainTextSchema
    ]


class BookingRefunded(_Detail):
    """detail-type `Booking Refunded`: part of a completed booking's amount paid back. A
    booking may be refunded in part more than once; each refund has its own `refundId`."""

    booking_id: Id
    customer_id: Id
    refund_id: Id
    refunded_amount_cents: Annotated[int, Field(strict=True, ge=1, le=10**10), WholeNumber]
    refunded_at: CalendarTime
    reason: Annotated[
        str, StringConstraints(min_length=1, max_length=500), PlainText, PlainTextSchema
    ]


class CustomerUpdated(_Detail):
    """detail-type `Customer Updated`."""

    customer_id: Id
    email: Text | None = None
    phone: Text | None = None
    first_name: Text | None = None
    last_name: Text | None = None
    notify_email: Flag = True
    notify_sms: Flag = True
    personal_data_consent: Consent = False


class BookingCompletedEvent(EventBridgeModel):
    source: Literal["bookings"]
    detail_type: Literal["Booking Completed"] = Field(alias="detail-type")
    detail: BookingCompleted


class BookingCancelledEvent(EventBridgeModel):
    source: Literal["bookings"]
    detail_type: Literal["Booking Cancelled"] = Field(alias="detail-type")
    detail: BookingCancelled


class BookingRefundedEvent(EventBridgeModel):
    source: Literal["bookings"]
    detail_type: Literal["Booking Refunded"] = Field(alias="detail-type")
    detail: BookingRefunded


class CustomerUpdatedEvent(EventBridgeModel):
    source: Literal["bookings"]
    detail_type: Literal["Customer Updated"] = Field(alias="detail-type")
    detail: CustomerUpdated


class ScheduledRun(BaseModel):
    """What EventBridge Scheduler sends a daily run: the schedule's Input in template.yaml,
    with the scheduled time and the execution id filled in by the Scheduler."""

    model_config = ConfigDict(extra="forbid")

    schedule: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    time: CalendarTime
    execution_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        alias="executionId"
    )
