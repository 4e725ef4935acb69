"""GET /api/crm/customers/{customerId}/points: a customer's points summary (VIEW_POINTS)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import http, permissions, reads
from crm_points.permissions import Permission
from crm_points.runtime import runtime, utc_now
from crm_points.schemas import CustomerPointsResponse
from crm_points.validation import ID_PATTERN

app = APIGatewayHttpResolver(enable_validation=True)
http.install_error_handlers(app)


@app.get("/api/crm/customers/<customerId>/points")
def customer_points(
    customerId: Annotated[str, Path(pattern=ID_PATTERN)],
) -> CustomerPointsResponse:
    caller = http.caller_of(app)
    permissions.require(caller.role, Permission.VIEW_POINTS)
    deps = runtime()
    return reads.customer_points(deps.store, customerId, utc_now(), deps.config)


@http.logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
