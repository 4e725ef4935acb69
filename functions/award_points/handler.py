"""POST /api/crm/points/award.

Add bonus points (AWARD_POINTS, or AWARD_SMALL_BONUS under the agent limit).
"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import handlers, http, operations
from crm_points.runtime import runtime
from crm_points.schemas import AwardPointsRequest, PointsTransactionResponse

router = APIGatewayHttpRouter()


@router.post(
    "/api/crm/points/award",
    tags=["Points"],
    responses=http.responses((201, PointsTransactionResponse, "The entries written")),
)
def award(
    body: AwardPointsRequest, idempotency_key: http.IdempotencyKey
) -> Response[PointsTransactionResponse]:
    """Add bonus points (AWARD_POINTS, or AWARD_SMALL_BONUS under the agent limit)."""
    call = http.call_of(router, idempotency_key)
    return http.written(operations.award_points(runtime().service, call, body))


app = http.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
