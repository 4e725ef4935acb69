"""POST /api/crm/customers/{customerId}/erase: erase a customer's personal data (POPIA;
ADMIN). The ledger's amounts, dates and ids stay."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.api_models import ErasureRequest
from crm_points.records import Erasure
from crm_points.runtime import runtime
from crm_points.validation import ID_PATTERN

router = APIGatewayHttpRouter()


@router.post(
    "/api/crm/customers/<customerId>/erase",
    tags=["Customers"],
    responses=api_edge.responses((200, Erasure, "The erasure, made now or before")),
)
def erase(
    customerId: Annotated[str, Path(pattern=ID_PATTERN)],
    body: ErasureRequest,
    idempotency_key: api_edge.IdempotencyKey,
) -> Response[Erasure]:
    """Remove the customer's contact details, stop every message to them, and take their
    details out of their alerts and entries (MANAGE_PERSONAL_DATA). A customer erased
    already answers that erasure."""
    call = api_edge.call_of(router, idempotency_key)
    erased = api_operations.erase_personal_data(
        runtime().service, runtime().alerts, call, customerId, body
    )
    return api_edge.answered(erased, 200)


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
