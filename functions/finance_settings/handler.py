"""PUT /api/crm/points/finance/settings: finance's settings, such as the value per point the
liability is stated at (docs/finance.md); audited like every configuration change (§10)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import api_edge, api_operations, handlers
from crm_points.api_models import FinanceSettingsUpdate
from crm_points.config import PointsConfig
from crm_points.runtime import runtime

router = APIGatewayHttpRouter()


@router.put(
    "/api/crm/points/finance/settings",
    tags=["Finance"],
    responses=api_edge.responses((200, PointsConfig, "The configuration after the change")),
)
def update_finance_settings(
    body: FinanceSettingsUpdate, idempotency_key: api_edge.IdempotencyKey
) -> Response[PointsConfig]:
    """Change finance's settings (SET_BREAKAGE: FINANCE, ADMIN); who and when is audited."""
    call = api_edge.call_of(router, idempotency_key)
    changed = api_operations.update_finance_settings(runtime().service, call, body)
    return api_edge.answered(changed, 200)


app = api_edge.resolver(router)


@handlers.api
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
