"""GET /api/crm/points/finance/roll-forward: the points liability month by month, in points
and in rand (docs/finance.md); as CSV for `Accept: text/csv`."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.analytics import MONTH_PATTERN
from crm_points.finance import RollForward, roll_forward_csv
from crm_points.runtime import runtime

router = APIGatewayHttpRouter()


@router.get(
    "/api/crm/points/finance/roll-forward",
    tags=["Finance"],
    responses=api_edge.responses((200, RollForward, "One row per month"), csv=True),
)
def finance_roll_forward(
    first: Annotated[
        str | None,
        Query(
            alias="from",
            pattern=MONTH_PATTERN,
            description="The first month, YYYY-MM (Africa/Johannesburg); default: eleven "
            "months before `to`",
        ),
    ] = None,
    last: Annotated[
        str | None,
        Query(
            alias="to",
            pattern=MONTH_PATTERN,
            description="The last month, not later than the current one; default: the "
            "current month",
        ),
    ] = None,
) -> Response[Any]:
    """Opening, movements by entry type, closing, outstanding and debts of each month
    (VIEW_FINANCE); closed months as they were closed."""
    call = api_edge.call_of(router)
    functions = runtime()
    report = api_operations.finance_roll_forward(
        functions.analytics, functions.service.config, call, first, last
    )
    if api_edge.wants_csv(router):
        name = f"points-roll-forward-{report.months[0].month}-to-{report.months[-1].month}.csv"
        return api_edge.csv_answer(roll_forward_csv(report), name)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=report)


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
