"""Every metric the functions emit, in one place (CloudWatch embedded metric format).

The metrics are printed to the function's log as EMF lines, which CloudWatch turns into
metrics: no PutMetricData call, so no permission and no request on the way. The handlers
flush what an invocation added when it ends (crm_points.handlers). Every metric is in the
`CrmPoints` namespace with the `service` dimension; those that need another dimension
(the channel of a notification, the schedule of a daily run) are emitted on their own line
with both, since EMF gives one set of dimensions to every metric of a line.

The names, what they count, and the alarms on them: docs/operations.md, "Seeing it run".
"""

import warnings
from collections import Counter
from collections.abc import Iterable

from aws_lambda_powertools.metrics import Metrics, MetricUnit, single_metric

from crm_points.logs import SERVICE
from crm_points.records import LedgerEntry, TransactionType

NAMESPACE = "CrmPoints"

# An invocation that added nothing (most reads) is normal here, not a mistake to warn about.
warnings.filterwarnings("ignore", message="No application metrics to publish")

metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

# The ledger's movements, in points, by entry type. REVERSAL and EXPIRY_EXTENDED move points
# back or move a date: they are not business movements of their own.
MOVEMENTS = {
    TransactionType.AWARD: "PointsAwarded",
    TransactionType.EARN: "PointsEarned",
    TransactionType.REDEEM: "PointsRedeemed",
    TransactionType.DEDUCT: "PointsDeducted",
    TransactionType.EXPIRE: "PointsExpired",
    TransactionType.RECOVER: "PointsRecovered",
}

API_FAULTS = "ApiFaults"
WRITE_CONFLICTS_EXHAUSTED = "WriteConflictsExhausted"
IDEMPOTENT_REPLAYS = "IdempotentReplays"
STREAM_RECORDS_FAILED = "StreamRecordsFailed"
NOTIFICATIONS_SENT = "NotificationsSent"
NOTIFICATIONS_FAILED = "NotificationsFailed"
BULK_ROWS_AWARDED = "BulkRowsAwarded"
BULK_ROWS_FAILED = "BulkRowsFailed"
DAILY_RUN_COMPLETED = "DailyRunCompleted"
RECONCILIATION_DRIFT = "ReconciliationDrift"


def count(name: str, value: int = 1) -> None:
    """Add `value` to the count `name` for this invocation."""
    if value:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def ledger_movements(entries: Iterable[LedgerEntry]) -> None:
    """The points the given entries moved, by type (their absolute values).

    Called where the change stream's consumer counts entries in the analytics, after their
    transaction committed, with only the entries it counted for the first time: an entry
    is counted there once however often the stream delivers it, so each point is too.
    """
    points: Counter[str] = Counter()
    for entry in entries:
        name = MOVEMENTS.get(entry.type)
        if name is not None:
            points[name] += abs(entry.points)
    for name, total in sorted(points.items()):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=total)


def _with_dimension(name: str, dimension: str, value: str) -> None:
    """One count on its own EMF line, with `service` and one more dimension."""
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=1,
        namespace=NAMESPACE,
        default_dimensions={"service": SERVICE},
    ) as metric:
        metric.add_dimension(name=dimension, value=value)


def notification_sent(channel: str) -> None:
    """One notification handed to SES or SNS, by channel (EMAIL, SMS)."""
    _with_dimension(NOTIFICATIONS_SENT, "channel", channel)


def notification_failed(channel: str) -> None:
    """One attempt to send a notification that failed (the queue will retry it)."""
    _with_dimension(NOTIFICATIONS_FAILED, "channel", channel)


def daily_run_completed(schedule: str) -> None:
    """A daily run finished: the heartbeat its alarm waits for, by schedule name."""
    _with_dimension(DAILY_RUN_COMPLETED, "schedule", schedule)


def reconciliation_drift(accounts: int) -> None:
    """How many accounts a reconciliation found differing from their entries; zero too, so
    the dashboard shows that it ran. Its alarm fires on anything above zero."""
    metrics.add_metric(name=RECONCILIATION_DRIFT, unit=MetricUnit.Count, value=accounts)
