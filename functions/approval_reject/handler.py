"""POST /api/crm/points/approvals/{approvalId}/reject: reject; nothing is deducted."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.api_models import DecisionRequest
from crm_points.records import Approval
from crm_points.runtime import runtime
from crm_points.validation import ID_PATTERN

router = APIGatewayHttpRouter()


@router.post(
    "/api/crm/points/approvals/<approvalId>/reject",
    tags=["Approvals"],
    responses=api_edge.responses((200, Approval, "Rejected")),
)
def reject(
    approvalId: Annotated[str, Path(pattern=ID_PATTERN)],
    idempotency_key: api_edge.IdempotencyKey,
    body: Annotated[DecisionRequest | None, Body()] = None,
) -> Response[Approval]:
    """Reject a pending deduction (APPROVE; never the requester)."""
    call = api_edge.call_of(router, idempotency_key)
    reason = body.reason if body else None
    return api_edge.answered(
        api_operations.reject(runtime().service, call, approvalId, reason), 200
    )


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
