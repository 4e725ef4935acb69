"""GET /api/crm/points/finance/balances-export/{jobId}: a balances export's progress, and
when done a link to its file that expires."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.balances_export import ExportJobView
from crm_points.runtime import runtime
from crm_points.validation import ID_PATTERN

router = APIGatewayHttpRouter()


@router.get(
    "/api/crm/points/finance/balances-export/<jobId>",
    tags=["Finance"],
    responses=api_edge.responses((200, ExportJobView, "The job")),
)
def export_job(jobId: Annotated[str, Path(pattern=ID_PATTERN)]) -> Response[ExportJobView]:
    """The job's progress (shards and accounts done, their sums), and once it is done the
    roll-forward's closing beside its total and a link to the CSV (VIEW_FINANCE)."""
    call = api_edge.call_of(router)
    job = api_operations.balances_export_job(runtime().balances_exports(), call, jobId)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=job)


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
