"""GET /api/crm/points/finance/periods: the months finance has closed, and the next to close."""

from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.finance import PeriodList
from crm_points.runtime import runtime

router = APIGatewayHttpRouter()


@router.get(
    "/api/crm/points/finance/periods",
    tags=["Finance"],
    responses=api_edge.responses((200, PeriodList, "The closed months, oldest first")),
)
def finance_periods() -> PeriodList:
    """Each closed month with its figures as closed, who closed it and when (VIEW_FINANCE)."""
    call = api_edge.call_of(router)
    return api_operations.finance_periods(runtime().analytics, call)


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
