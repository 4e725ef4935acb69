"""EventBridge Scheduler `reconcile-ledger` (daily 03:00 Africa/Johannesburg): check the
accounts written since the last run against their entries (docs/operations.md)."""

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
    """Drift is reported, not raised: the run finishes, and the ReconciliationDrift alarm
    pages on any account above zero."""
    report = daily_runs.reconcile_ledger(runtime().service.store, runtime().schedules, event.time)
    logger.info(
        "reconciliation finished",
        extra={"accounts": report.accounts, "driftedAccounts": report.drifted_accounts},
    )
    metrics.reconciliation_drift(report.drifted_accounts)
    # The heartbeat: its alarm fires when a day passes without it (docs/operations.md).
    metrics.daily_run_completed(daily_runs.RECONCILE_LEDGER)
    return report.model_dump(mode="json", by_alias=True)
