"""POST /api/crm/points/extend-expiry.

Move a point batch's expiry to a later date (EXTEND_EXPIRY).
"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.api_models import ExtendExpiryRequest, PointsTransactionResponse
from crm_points.runtime import runtime

router = APIGatewayHttpRouter()


@router.post(
    "/api/crm/points/extend-expiry",
    tags=["Points"],
    responses=api_edge.responses((201, PointsTransactionResponse, "The entries written")),
)
def extend_expiry(
    body: ExtendExpiryRequest, idempotency_key: api_edge.IdempotencyKey
) -> Response[PointsTransactionResponse]:
    """Move a point batch's expiry to a later date (EXTEND_EXPIRY)."""
    call = api_edge.call_of(router, idempotency_key)
    return api_edge.written(api_operations.extend_expiry(runtime().service, call, body))


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
