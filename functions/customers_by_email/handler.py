"""GET /api/crm/customers?email=: find customers by e-mail address (VIEW_POINTS)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.api_models import CustomerSearchResponse
from crm_points.runtime import runtime

router = APIGatewayHttpRouter()


@router.get(
    "/api/crm/customers",
    tags=["Customers"],
    responses=api_edge.responses((200, CustomerSearchResponse, "The customers found")),
)
def customers(
    # Whitespace spelled out: `\s` means other characters to the document's readers (ECMA
    # regex) than to the validation here (Rust's regex: also U+0085).
    email: Annotated[
        str, Query(min_length=3, max_length=254, pattern=r"^[^@ \t\n\r\f\v]+@[^@ \t\n\r\f\v]+$")
    ],
) -> CustomerSearchResponse:
    """Customers whose e-mail address is this one (case-insensitive)."""
    return api_operations.find_customers(runtime().service, api_edge.call_of(router), email)


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
