"""GET /api/crm/points/approvals: deductions waiting for approval (or in another status)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.api_models import ApprovalList
from crm_points.records import ApprovalStatus
from crm_points.runtime import runtime

router = APIGatewayHttpRouter()


@router.get(
    "/api/crm/points/approvals",
    tags=["Approvals"],
    responses=api_edge.responses((200, ApprovalList, "A page of approvals")),
)
def approvals(
    status: Annotated[ApprovalStatus, Query()] = ApprovalStatus.PENDING,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> ApprovalList:
    """Approvals in one status, newest first (APPROVE)."""
    call = api_edge.call_of(router)
    return api_operations.list_approvals(runtime().service, call, status, limit, cursor)


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
