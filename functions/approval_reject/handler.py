"""POST /api/crm/points/approvals/{approvalId}/reject: reject; nothing is deducted."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import handlers, http, operations
from crm_points.models import Approval
from crm_points.runtime import runtime
from crm_points.schemas import DecisionRequest
from crm_points.validation import ID_PATTERN

router = APIGatewayHttpRouter()


@router.post(
    "/api/crm/points/approvals/<approvalId>/reject",
    tags=["Approvals"],
    responses=http.responses((200, Approval, "Rejected")),
)
def reject(
    approvalId: Annotated[str, Path(pattern=ID_PATTERN)],
    idempotency_key: http.IdempotencyKey,
    body: Annotated[DecisionRequest | None, Body()] = None,
) -> Approval:
    """Reject a pending deduction (APPROVE; never the requester)."""
    call = http.call_of(router, idempotency_key)
    reason = body.reason if body else None
    return operations.reject(runtime().service, call, approvalId, reason)


app = http.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
