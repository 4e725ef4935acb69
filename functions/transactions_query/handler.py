"""GET /api/crm/points/transactions: entries across customers, filtered, newest first."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.account_reads import MAX_OFFSET, TransactionQuery
from crm_points.api_models import TransactionSearchResponse
from crm_points.records import TransactionType
from crm_points.runtime import runtime
from crm_points.validation import ID_PATTERN, DayOrMoment

router = APIGatewayHttpRouter()


@router.get(
    "/api/crm/points/transactions",
    tags=["Points"],
    responses=api_edge.responses((200, TransactionSearchResponse, "A page of entries")),
)
def transactions(
    customerId: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    dateFrom: Annotated[DayOrMoment | None, Query()] = None,
    dateTo: Annotated[DayOrMoment | None, Query()] = None,
    type: Annotated[TransactionType | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> TransactionSearchResponse:
    """The seed's PointsTransactionQuery (VIEW_TRANSACTIONS); dates are days or moments."""
    query = TransactionQuery(
        customer_id=customerId,
        date_from=dateFrom,
        date_to=dateTo,
        type=type.value if type else None,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    return api_operations.query_transactions(runtime().service, api_edge.call_of(router), query)


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
