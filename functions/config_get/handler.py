"""GET /api/crm/points/config: the configuration in force (SPEC §10)."""

from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.config import PointsConfig
from crm_points.runtime import runtime

router = APIGatewayHttpRouter()


@router.get(
    "/api/crm/points/config",
    tags=["Configuration"],
    responses=api_edge.responses((200, PointsConfig, "The configuration")),
)
def get_config() -> PointsConfig:
    """Every setting with its value (VIEW_ANALYTICS)."""
    return api_operations.get_config(runtime().service, api_edge.call_of(router))


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
