"""EventBridge `Booking Cancelled` (source `bookings`): reverse the booking's points."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import booking_effects, handlers
from crm_points.incoming_events import BookingCancelledEvent
from crm_points.runtime import runtime


@handlers.event
@event_parser(model=BookingCancelledEvent)
def lambda_handler(event: BookingCancelledEvent, context: LambdaContext) -> dict[str, Any]:
    """A malformed event or a failed write raises: the event is retried, then dead-lettered."""
    result = booking_effects.booking_cancelled(
        runtime().service, event.detail, event.id, event.time
    )
    return {"transactions": [entry.transaction_id for entry in result.transactions]}
