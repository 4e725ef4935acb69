"""GET /api/crm/alerts: alerts in one status (OPEN unless asked), newest first."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.alerts import AlertPriority, AlertStatus, AlertType
from crm_points.api_models import AlertList
from crm_points.runtime import runtime

router = APIGatewayHttpRouter()


@router.get(
    "/api/crm/alerts",
    tags=["Alerts"],
    responses=api_edge.responses((200, AlertList, "A page of alerts")),
)
def alerts(
    status: Annotated[AlertStatus, Query()] = AlertStatus.OPEN,
    priority: Annotated[AlertPriority | None, Query()] = None,
    type: Annotated[AlertType | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> AlertList:
    """Alerts in one status, newest first, optionally of one priority and type
    (VIEW_ALERTS); `nextCursor` continues."""
    call = api_edge.call_of(router)
    return api_operations.list_alerts(runtime().alerts, call, status, priority, type, limit, cursor)


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
