"""PUT /api/crm/points/config: change the settings named, keep the rest (SPEC §10)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.api_models import PointsConfigUpdate
from crm_points.config import PointsConfig
from crm_points.runtime import runtime

router = APIGatewayHttpRouter()


@router.put(
    "/api/crm/points/config",
    tags=["Configuration"],
    responses=api_edge.responses((200, PointsConfig, "The configuration after the change")),
)
def update_config(
    body: PointsConfigUpdate, idempotency_key: api_edge.IdempotencyKey
) -> Response[PointsConfig]:
    """Change settings (SYSTEM_CONFIG); the change is audited with who and when."""
    call = api_edge.call_of(router, idempotency_key)
    region = runtime().settings.region
    return api_edge.answered(
        api_operations.update_config(runtime().service, call, body, region), 200
    )


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
