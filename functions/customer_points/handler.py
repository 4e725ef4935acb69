"""GET /api/crm/customers/{customerId}/points: a customer's points summary (VIEW_POINTS)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.api_models import CustomerPointsResponse
from crm_points.runtime import runtime
from crm_points.validation import ID_PATTERN

router = APIGatewayHttpRouter()


@router.get(
    "/api/crm/customers/<customerId>/points",
    tags=["Customers"],
    responses=api_edge.responses((200, CustomerPointsResponse, "The summary")),
)
def customer_points(
    customerId: Annotated[str, Path(pattern=ID_PATTERN)],
) -> CustomerPointsResponse:
    """A customer's balance, expiring points, lifetime figures, recent entries, schedule."""
    call = api_edge.call_of(router)
    return api_operations.customer_points(runtime().service, call, customerId)


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
