"""GET /api/crm/points/analytics: the month's points analytics (SPEC §9)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.analytics import MONTH_PATTERN, PointsAnalytics
from crm_points.runtime import runtime

router = APIGatewayHttpRouter()


@router.get(
    "/api/crm/points/analytics",
    tags=["Analytics"],
    responses=api_edge.responses((200, PointsAnalytics, "The month's figures")),
)
def points_analytics(
    month: Annotated[
        str | None,
        Query(
            pattern=MONTH_PATTERN,
            description="YYYY-MM (Africa/Johannesburg), not later than the current month; "
            "default: the current month",
        ),
    ] = None,
) -> PointsAnalytics:
    """Points liability, customer engagement and service impact of one month
    (VIEW_ANALYTICS); for a past month, as at its end."""
    call = api_edge.call_of(router)
    return api_operations.points_analytics(runtime().analytics, call, month)


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
