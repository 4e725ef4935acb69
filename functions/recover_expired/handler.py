"""POST /api/crm/points/recover-expired.

Bring back the points of an EXPIRE entry, once (RECOVER_EXPIRED).
"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.api_models import PointsTransactionResponse, RecoverExpiredRequest
from crm_points.runtime import runtime

router = APIGatewayHttpRouter()


@router.post(
    "/api/crm/points/recover-expired",
    tags=["Points"],
    responses=api_edge.responses((201, PointsTransactionResponse, "The entries written")),
)
def recover_expired(
    body: RecoverExpiredRequest, idempotency_key: api_edge.IdempotencyKey
) -> Response[PointsTransactionResponse]:
    """Bring back the points of an EXPIRE entry, once (RECOVER_EXPIRED)."""
    call = api_edge.call_of(router, idempotency_key)
    return api_edge.written(api_operations.recover_expired(runtime().service, call, body))


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
