"""EventBridge `Booking Completed` (source `bookings`): earn, checkout redemption, profile."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import booking_effects, handlers
from crm_points.incoming_events import BookingCompletedEvent
from crm_points.runtime import runtime


@handlers.event
@event_parser(model=BookingCompletedEvent)
def lambda_handler(event: BookingCompletedEvent, context: LambdaContext) -> dict[str, Any]:
    """A malformed event or a failed write raises: the event is retried, then dead-lettered."""
    result = booking_effects.booking_completed(
        runtime().service, event.detail, event.id, event.time
    )
    return {
        "transactions": [entry.transaction_id for entry in result.transactions] if result else []
    }
