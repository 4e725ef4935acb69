"""POST /api/crm/alerts/{alertId}/resolve: OPEN or ACKNOWLEDGED -> RESOLVED."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.alerts import Alert
from crm_points.api_models import AlertNoteRequest
from crm_points.runtime import runtime
from crm_points.validation import ID_PATTERN

router = APIGatewayHttpRouter()


@router.post(
    "/api/crm/alerts/<alertId>/resolve",
    tags=["Alerts"],
    responses=api_edge.responses((200, Alert, "Resolved")),
)
def resolve(
    alertId: Annotated[str, Path(pattern=ID_PATTERN)],
    idempotency_key: api_edge.IdempotencyKey,
    body: Annotated[AlertNoteRequest | None, Body()] = None,
) -> Response[Alert]:
    """Resolve an open or acknowledged alert (MANAGE_ALERTS); from then on its customer (or
    month) may raise a new alert of its type."""
    call = api_edge.call_of(router, idempotency_key)
    note = body.note if body else None
    change = api_operations.resolve_alert(runtime().alerts, call, alertId, note)
    return api_edge.answered(change, 200)


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
