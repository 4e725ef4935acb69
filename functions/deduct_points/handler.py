"""POST /api/crm/points/deduct: deduct points now (201), or ask for approval (202)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import handlers, http, operations
from crm_points.models import Approval
from crm_points.runtime import runtime
from crm_points.schemas import DeductPointsRequest, PointsTransactionResponse

router = APIGatewayHttpRouter()


@router.post(
    "/api/crm/points/deduct",
    tags=["Points"],
    responses=http.responses(
        (201, PointsTransactionResponse, "Deducted: the entries written"),
        (202, Approval, "Waiting for approval"),
    ),
)
def deduct(
    body: DeductPointsRequest, idempotency_key: http.IdempotencyKey
) -> Response[PointsTransactionResponse | Approval]:
    """Deduct points (DEDUCT_POINTS: MANAGER under the limit, ADMIN any amount, allowNegative
    ADMIN only); with requireApproval, a pending approval whatever the amount."""
    call = http.call_of(router, idempotency_key)
    result = operations.deduct_points(runtime().service, call, body)
    if isinstance(result, Approval):
        return http.accepted(result)
    return http.written(result)


app = http.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
