"""GET /api/crm/customers/{customerId}/alerts: a customer's alerts, newest first."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.alerts import AlertPriority, AlertStatus, AlertType
from crm_points.api_models import AlertList
from crm_points.runtime import runtime
from crm_points.validation import ID_PATTERN

router = APIGatewayHttpRouter()


@router.get(
    "/api/crm/customers/<customerId>/alerts",
    tags=["Customers"],
    responses=api_edge.responses((200, AlertList, "A page of the customer's alerts")),
)
def customer_alerts(
    customerId: Annotated[str, Path(pattern=ID_PATTERN)],
    status: Annotated[AlertStatus | None, Query()] = None,
    priority: Annotated[AlertPriority | None, Query()] = None,
    type: Annotated[AlertType | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> AlertList:
    """The customer's alerts of every status (or of the one asked), newest first
    (VIEW_POINTS); `nextCursor` continues."""
    call = api_edge.call_of(router)
    return api_operations.customer_alerts(
        runtime().alerts, call, customerId, status, priority, type, limit, cursor
    )


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
