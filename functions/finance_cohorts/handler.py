"""GET /api/crm/points/finance/cohorts: the points issued each month and what became of
them, the breakage rate and deferred revenue (docs/finance.md); as CSV for
`Accept: text/csv`."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.analytics import MONTH_PATTERN
from crm_points.finance import CohortReport, cohort_csv
from crm_points.runtime import runtime

router = APIGatewayHttpRouter()


@router.get(
    "/api/crm/points/finance/cohorts",
    tags=["Finance"],
    responses=api_edge.responses((200, CohortReport, "Every cohort, oldest first"), csv=True),
)
def finance_cohorts(
    as_of: Annotated[
        str | None,
        Query(
            alias="asOf",
            pattern=MONTH_PATTERN,
            description="The month at whose end the figures are, YYYY-MM (Africa/"
            "Johannesburg), not later than the current one; default: the current month",
        ),
    ] = None,
) -> Response[Any]:
    """Each cohort's points issued, redeemed, deducted, expired, reversed, settling a debt
    and outstanding, its deferred revenue; the breakage rate in force and the month's
    revenue released (VIEW_FINANCE)."""
    call = api_edge.call_of(router)
    functions = runtime()
    report = api_operations.finance_cohorts(
        functions.analytics, functions.service.config, call, as_of
    )
    if api_edge.wants_csv(router):
        return api_edge.csv_answer(cohort_csv(report), f"points-cohorts-{report.as_of}.csv")
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=report)


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
