"""EventBridge Scheduler `expiring-reminders` (daily 09:00 Africa/Johannesburg)."""

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
    """Remind customers whose lots entered the expiring window, once per lot and expiry."""
    report = daily_runs.send_expiring_reminders(runtime().service, runtime().schedules, event.time)
    logger.info("reminder run finished", extra={"report": report.model_dump(mode="json")})
    # The heartbeat: its alarm fires when a day passes without it (docs/operations.md).
    metrics.daily_run_completed("expiring-reminders")
    return report.model_dump(mode="json", by_alias=True)
