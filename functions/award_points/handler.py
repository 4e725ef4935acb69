"""POST /api/crm/points/award.

Add bonus points (AWARD_POINTS, or AWARD_SMALL_BONUS under the agent limit).
"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.api_models import AwardPointsRequest, PointsTransactionResponse
from crm_points.runtime import runtime

router = APIGatewayHttpRouter()


@router.post(
    "/api/crm/points/award",
    tags=["Points"],
    responses=api_edge.responses((201, PointsTransactionResponse, "The entries written")),
)
def award(
    body: AwardPointsRequest, idempotency_key: api_edge.IdempotencyKey
) -> Response[PointsTransactionResponse]:
    """Add bonus points (AWARD_POINTS, or AWARD_SMALL_BONUS under the agent limit)."""
    call = api_edge.call_of(router, idempotency_key)
    return api_edge.written(api_operations.award_points(runtime().service, call, body))


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
