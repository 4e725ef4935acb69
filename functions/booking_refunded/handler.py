"""EventBridge `Booking Refunded` (source `bookings`): reverse the refund's share of the
booking's points."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import booking_effects, handlers
from crm_points.incoming_events import BookingRefundedEvent
from crm_points.runtime import runtime


@handlers.event
@event_parser(model=BookingRefundedEvent)
def lambda_handler(event: BookingRefundedEvent, context: LambdaContext) -> dict[str, Any]:
    """A malformed event, a refund the booking cannot take (not completed, more than its
    amount) or a failed write raises: the event is retried, then dead-lettered."""
    result = booking_effects.booking_refunded(runtime().service, event.detail, event.id, event.time)
    return {
        "transactions": [entry.transaction_id for entry in result.transactions] if result else []
    }
