"""POST /api/crm/points/recover-expired.

Bring back the points of an EXPIRE entry, once (RECOVER_EXPIRED).
"""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import handlers, http, operations
from crm_points.runtime import runtime
from crm_points.schemas import PointsTransactionResponse, RecoverExpiredRequest

router = APIGatewayHttpRouter()


@router.post(
    "/api/crm/points/recover-expired",
    tags=["Points"],
    responses=http.responses((201, PointsTransactionResponse, "The entries written")),
)
def recover_expired(
    body: RecoverExpiredRequest, idempotency_key: http.IdempotencyKey
) -> Response[PointsTransactionResponse]:
    """Bring back the points of an EXPIRE entry, once (RECOVER_EXPIRED)."""
    call = http.call_of(router, idempotency_key)
    return http.written(operations.recover_expired(runtime().service, call, body))


app = http.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
