"""POST /api/crm/points/redeem.

Redeem points, soonest-expiring first; never overdraws (REDEEM_POINTS).
"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import handlers, http, operations
from crm_points.runtime import runtime
from crm_points.schemas import PointsTransactionResponse, RedeemPointsRequest

router = APIGatewayHttpRouter()


@router.post(
    "/api/crm/points/redeem",
    tags=["Points"],
    responses=http.responses((201, PointsTransactionResponse, "The entries written")),
)
def redeem(
    body: RedeemPointsRequest, idempotency_key: http.IdempotencyKey
) -> Response[PointsTransactionResponse]:
    """Redeem points, soonest-expiring first; never overdraws (REDEEM_POINTS)."""
    call = http.call_of(router, idempotency_key)
    return http.written(operations.redeem_points(runtime().service, call, body))


app = http.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
