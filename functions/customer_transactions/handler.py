"""GET /api/crm/customers/{customerId}/points/transactions: history, newest first."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.api_models import TransactionHistoryResponse
from crm_points.runtime import runtime
from crm_points.validation import ID_PATTERN

router = APIGatewayHttpRouter()


@router.get(
    "/api/crm/customers/<customerId>/points/transactions",
    tags=["Customers"],
    responses=api_edge.responses((200, TransactionHistoryResponse, "A page of history")),
)
def customer_transactions(
    customerId: Annotated[str, Path(pattern=ID_PATTERN)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> TransactionHistoryResponse:
    """A page of the customer's history with running balances; `nextCursor` continues."""
    call = api_edge.call_of(router)
    return api_operations.customer_history(runtime().service, call, customerId, limit, cursor)


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
