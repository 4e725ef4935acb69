"""GET /api/crm/customers/{customerId}/personal-data: everything held about a customer, as
one document (POPIA's right of access; ADMIN)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.api_models import PersonalDataResponse
from crm_points.runtime import runtime
from crm_points.validation import ID_PATTERN

router = APIGatewayHttpRouter()


@router.get(
    "/api/crm/customers/<customerId>/personal-data",
    tags=["Customers"],
    responses=api_edge.responses((200, PersonalDataResponse, "Everything held about them")),
)
def personal_data(
    customerId: Annotated[str, Path(pattern=ID_PATTERN)],
) -> PersonalDataResponse:
    """The profile, every ledger entry, the account, the reminders, the alerts, the records
    of the messages sent, the erasures, and how long each is kept (MANAGE_PERSONAL_DATA)."""
    call = api_edge.call_of(router)
    return api_operations.personal_data(
        runtime().service, runtime().alerts, runtime().effects, call, customerId
    )


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
