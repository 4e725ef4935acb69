"""POST /api/crm/points/finance/periods/{month}/close: finance closes a month; its figures
are kept as they are now and never change (docs/finance.md, "Closed periods")."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.analytics import MONTH_PATTERN
from crm_points.finance import ClosedPeriod
from crm_points.runtime import runtime

router = APIGatewayHttpRouter()


@router.post(
    "/api/crm/points/finance/periods/<month>/close",
    tags=["Finance"],
    responses=api_edge.responses((201, ClosedPeriod, "Closed")),
)
def close_period(
    month: Annotated[str, Path(pattern=MONTH_PATTERN, description="YYYY-MM")],
    idempotency_key: api_edge.IdempotencyKey,
) -> Response[ClosedPeriod]:
    """Close the month after the last closed one, once it is over (CLOSE_PERIOD). Audited
    (who, when) and final: no route reopens a month."""
    call = api_edge.call_of(router, idempotency_key)
    functions = runtime()
    closed = api_operations.close_period(functions.analytics, functions.service.config, call, month)
    return api_edge.answered(closed)


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
