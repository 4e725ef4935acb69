"""GET /api/crm/points/bulk-jobs/{jobId}: a bulk award job's progress and row results."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.bulk import BulkJobPage
from crm_points.runtime import runtime
from crm_points.validation import ID_PATTERN

router = APIGatewayHttpRouter()


@router.get(
    "/api/crm/points/bulk-jobs/<jobId>",
    tags=["Bulk"],
    responses=api_edge.responses((200, BulkJobPage, "The job and a page of its row results")),
)
def bulk_job(
    jobId: Annotated[str, Path(pattern=ID_PATTERN)],
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> BulkJobPage:
    """A bulk award job (BULK_OPERATIONS): status, counts and row results in row order,
    one DynamoDB request per page; the progress comes with the first page."""
    call = api_edge.call_of(router)
    return api_operations.bulk_job(runtime().bulk_awards(), call, jobId, limit, cursor)


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
