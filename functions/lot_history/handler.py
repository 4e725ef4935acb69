"""GET /api/crm/points/lots/{pointBatchId}: a lot's whole life, a page at a time."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.api_models import LotHistoryResponse
from crm_points.runtime import runtime
from crm_points.validation import ID_PATTERN

router = APIGatewayHttpRouter()


@router.get(
    "/api/crm/points/lots/<pointBatchId>",
    tags=["Points"],
    responses=api_edge.responses((200, LotHistoryResponse, "The lot and a page of its life")),
)
def lot_history(
    pointBatchId: Annotated[str, Path(pattern=ID_PATTERN)],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> LotHistoryResponse:
    """A lot now (ACTIVE with what it holds, or CONSUMED, EXPIRED, MERGED) and its life,
    oldest first: its credits, draws, extensions, merges, expiry and recovery;
    `nextCursor` continues."""
    call = api_edge.call_of(router)
    return api_operations.lot_history(runtime().service, call, pointBatchId, limit, cursor)


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
