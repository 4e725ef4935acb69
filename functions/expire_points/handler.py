"""EventBridge Scheduler `expire-points` (daily 00:30 Africa/Johannesburg): expire due lots."""

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
    """The run's "now" is its scheduled time: a retried or replayed run does the same."""
    report = daily_runs.expire_points(
        runtime().service, runtime().schedules, event.time, event.execution_id
    )
    logger.info("expiry run finished", extra={"report": report.model_dump(mode="json")})
    # The heartbeat: its alarm fires when a day passes without it (docs/operations.md).
    metrics.daily_run_completed("expire-points")
    return report.model_dump(mode="json", by_alias=True)
