"""EventBridge Scheduler `system-alerts` (daily 06:00 Africa/Johannesburg): the month's rates."""

from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import daily_runs, handlers, metrics
from crm_points.incoming_events import ScheduledRun
from crm_points.logs import logger
from crm_points.runtime import runtime


@handlers.scheduled
@event_parser(model=ScheduledRun)
def lambda_handler(event: ScheduledRun, context: LambdaContext) -> dict[str, Any]:
    """HIGH_EXPIRATION_RATE and LOW_REDEMPTION_RATE for the last full month."""
    core = runtime()
    report = daily_runs.raise_system_alerts(
        core.analytics, core.alerts, core.service.config, event.time
    )
    logger.info("system alerts run finished", extra={"report": report.model_dump(mode="json")})
    # The heartbeat: its alarm fires when a day passes without it (docs/operations.md).
    metrics.daily_run_completed("system-alerts")
    return report.model_dump(mode="json", by_alias=True)
