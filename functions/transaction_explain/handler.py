"""GET /api/crm/points/transactions/{transactionId}: an entry and the lots it touched."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.api_models import TransactionExplanation
from crm_points.runtime import runtime
from crm_points.validation import ID_PATTERN

router = APIGatewayHttpRouter()


@router.get(
    "/api/crm/points/transactions/<transactionId>",
    tags=["Points"],
    responses=api_edge.responses((200, TransactionExplanation, "The entry and its lots")),
)
def transaction_explain(
    transactionId: Annotated[str, Path(pattern=ID_PATTERN)],
) -> TransactionExplanation:
    """Why a balance changed: the entry and the lots it touched. A credit: the lot it made
    or joined and what became of it since. A debit: each lot it drew from, when and by
    which credits that lot was earned, and when it expires or expired."""
    call = api_edge.call_of(router)
    return api_operations.explain_transaction(runtime().service, call, transactionId)


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
