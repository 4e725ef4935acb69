"""POST /api/crm/points/extend-expiry.

Move a point batch's expiry to a later date (EXTEND_EXPIRY).
"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import handlers, http, operations
from crm_points.runtime import runtime
from crm_points.schemas import ExtendExpiryRequest, PointsTransactionResponse

router = APIGatewayHttpRouter()


@router.post(
    "/api/crm/points/extend-expiry",
    tags=["Points"],
    responses=http.responses((201, PointsTransactionResponse, "The entries written")),
)
def extend_expiry(
    body: ExtendExpiryRequest, idempotency_key: http.IdempotencyKey
) -> Response[PointsTransactionResponse]:
    """Move a point batch's expiry to a later date (EXTEND_EXPIRY)."""
    call = http.call_of(router, idempotency_key)
    return http.written(operations.extend_expiry(runtime().service, call, body))


app = http.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
