"""POST /api/crm/points/deduct: deduct points now (201), or ask for approval (202)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.api_models import DeductPointsRequest, PointsTransactionResponse
from crm_points.records import Approval, PostingResult
from crm_points.runtime import runtime

router = APIGatewayHttpRouter()


@router.post(
    "/api/crm/points/deduct",
    tags=["Points"],
    responses=api_edge.responses(
        (201, PointsTransactionResponse, "Deducted: the entries written"),
        (202, Approval, "Waiting for approval"),
    ),
)
def deduct(
    body: DeductPointsRequest, idempotency_key: api_edge.IdempotencyKey
) -> Response[PointsTransactionResponse | Approval]:
    """Deduct points (DEDUCT_POINTS: MANAGER under the limit, ADMIN any amount, allowNegative
    ADMIN only); with requireApproval, a pending approval whatever the amount."""
    call = api_edge.call_of(router, idempotency_key)
    result = api_operations.deduct_points(runtime().service, call, body)
    if isinstance(result, PostingResult):
        return api_edge.written(result)
    return api_edge.accepted(result)


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
