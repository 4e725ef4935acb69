"""GET /api/crm/points/approvals: deductions waiting for approval (or in another status)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import handlers, http, operations
from crm_points.models import ApprovalStatus
from crm_points.runtime import runtime
from crm_points.schemas import ApprovalList

router = APIGatewayHttpRouter()


@router.get(
    "/api/crm/points/approvals",
    tags=["Approvals"],
    responses=http.responses((200, ApprovalList, "A page of approvals")),
)
def approvals(
    status: Annotated[ApprovalStatus, Query()] = ApprovalStatus.PENDING,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> ApprovalList:
    """Approvals in one status, newest first (APPROVE)."""
    call = http.call_of(router)
    return operations.list_approvals(runtime().service, call, status, limit, cursor)


app = http.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
