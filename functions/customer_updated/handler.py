"""EventBridge `Customer Updated` (source `bookings`): upsert the customer's profile."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import booking_effects, handlers
from crm_points.incoming_events import CustomerUpdatedEvent
from crm_points.runtime import runtime


@handlers.event
@event_parser(model=CustomerUpdatedEvent)
def lambda_handler(event: CustomerUpdatedEvent, context: LambdaContext) -> dict[str, Any]:
    """An older update never overwrites a newer one (the event's time decides)."""
    booking_effects.customer_updated(runtime().service, event.detail, event.time)
    return {"customerId": event.detail.customer_id}
