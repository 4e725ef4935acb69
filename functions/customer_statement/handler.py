"""GET /api/crm/customers/{customerId}/points/statement: the customer's statement of a
period; as CSV for `Accept: text/csv`."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.runtime import runtime
from crm_points.statements import Statement, statement_csv
from crm_points.validation import ID_PATTERN, CalendarDay

router = APIGatewayHttpRouter()


@router.get(
    "/api/crm/customers/<customerId>/points/statement",
    tags=["Customers"],
    responses=api_edge.responses((200, Statement, "The statement of the period"), csv=True),
)
def customer_statement(
    customerId: Annotated[str, Path(pattern=ID_PATTERN)],
    first: Annotated[
        CalendarDay,
        Query(alias="from", description="The period's first business day, YYYY-MM-DD"),
    ],
    last: Annotated[
        CalendarDay,
        Query(
            alias="to",
            description="The period's last business day, YYYY-MM-DD (at most 366 days in all)",
        ),
    ],
) -> Response[Any]:
    """The opening balance, every entry posted in the period, the closing balance, the
    period's totals and the expiration schedule (VIEW_TRANSACTIONS)."""
    call = api_edge.call_of(router)
    report = api_operations.customer_statement(runtime().service, call, customerId, first, last)
    if api_edge.wants_csv(router):
        name = f"points-statement-{customerId}-{report.period_from}-{report.period_to}.csv"
        return api_edge.csv_answer(statement_csv(report), name)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=report)


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
