"""The booking system's events on the points bus (SPEC §5), as the functions receive them.

Unknown fields are ignored: the booking system may add to its events without breaking us.
docs/events/ publishes these models as JSON Schemas for the booking system's team.
"""

from typing import Annotated, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from crm_points.models import UtcDateTime
from crm_points.validation import Id


class _Detail(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class BookingCustomer(_Detail):
    email: Text | None = None
    phone: Text | None = None
    first_name: Text | None = None
    last_name: Text | None = None


class BookingCompleted(_Detail):
    """detail-type `Booking Completed`."""

    booking_id: Id
    customer_id: Id
    completed_at: UtcDateTime
    amount_cents: Annotated[int, Field(ge=0, le=10**10)]
    currency: Literal["ZAR"]
    points_redeemed: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    customer: BookingCustomer | None = None


class BookingCancelled(_Detail):
    """detail-type `Booking Cancelled`."""

    booking_id: Id
    customer_id: Id
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class CustomerUpdated(_Detail):
    """detail-type `Customer Updated`."""

    customer_id: Id
    email: Text | None = None
    phone: Text | None = None
    first_name: Text | None = None
    last_name: Text | None = None
    notify_email: bool = True
    notify_sms: bool = True


class BookingCompletedEvent(EventBridgeModel):
    source: Literal["bookings"]
    detail_type: Literal["Booking Completed"] = Field(alias="detail-type")
    detail: BookingCompleted


class BookingCancelledEvent(EventBridgeModel):
    source: Literal["bookings"]
    detail_type: Literal["Booking Cancelled"] = Field(alias="detail-type")
    detail: BookingCancelled


class CustomerUpdatedEvent(EventBridgeModel):
    source: Literal["bookings"]
    detail_type: Literal["Customer Updated"] = Field(alias="detail-type")
    detail: CustomerUpdated


class ScheduledRun(BaseModel):
    """What EventBridge Scheduler sends a daily run: the schedule's Input in template.yaml,
    with the scheduled time and the execution id filled in by the Scheduler."""

    model_config = ConfigDict(extra="forbid")

    schedule: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    time: UtcDateTime
    execution_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        alias="executionId"
    )
