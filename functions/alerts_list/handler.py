"""GET /api/crm/alerts: alerts in one status (OPEN unless asked), newest first."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import handlers, http, operations
from crm_points.alerts import AlertPriority, AlertStatus, AlertType
from crm_points.runtime import runtime
from crm_points.schemas import AlertList

router = APIGatewayHttpRouter()


@router.get(
    "/api/crm/alerts",
    tags=["Alerts"],
    responses=http.responses((200, AlertList, "A page of alerts")),
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
    call = http.call_of(router)
    return operations.list_alerts(runtime().alerts, call, status, priority, type, limit, cursor)


app = http.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
