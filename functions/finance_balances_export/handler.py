"""POST /api/crm/points/finance/balances-export: a job that writes every customer's balance
at the end of a month to a CSV file, for the auditors (docs/finance.md, "Balances export")."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.analytics import MONTH_PATTERN
from crm_points.balances_export import ExportJob
from crm_points.runtime import runtime

router = APIGatewayHttpRouter()


@router.post(
    "/api/crm/points/finance/balances-export",
    tags=["Finance"],
    responses=api_edge.responses((202, ExportJob, "The job, queued")),
)
def balances_export(
    idempotency_key: api_edge.IdempotencyKey,
    as_of: Annotated[
        str | None,
        Query(
            alias="asOf",
            pattern=MONTH_PATTERN,
            description="The month at whose end the balances are, YYYY-MM (Africa/"
            "Johannesburg), not later than the current one; default: the last month that is "
            "over",
        ),
    ] = None,
) -> Response[ExportJob]:
    """Queue the export (VIEW_FINANCE); GET /points/finance/balances-export/{jobId} shows
    its progress and, when done, a link to the file."""
    call = api_edge.call_of(router, idempotency_key)
    functions = runtime()
    job = api_operations.balances_export(
        functions.balances_exports(), functions.service.config, call, as_of
    )
    return api_edge.answered(job, 202)


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
