"""The daily runs of SPEC §6 (expire-points, expiring-reminders, system-alerts) and the
daily reconciliation of the accounts written that day (docs/operations.md).

A run takes "now" from its event, so any run can be replayed, and its cost follows what is
due: it reads, from each shard of a sparse index sorted by expiry, the accounts due by then,
never the table. A run repeated with the same time changes nothing (each customer's write
is keyed by the run's time); a run stopped half-way and started again finishes the job (the
customers it did are no longer filed as due). A customer whose write fails is logged and
the run goes on with the others, then fails as a whole (RunIncomplete) so that it is
retried, dead-lettered and alarmed. The watermark records the last finished run.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import Field

from crm_points.alert_store import AlertStore
from crm_points.alerts import AlertType, new_alert
from crm_points.analytics import last_full_month, month_rates
from crm_points.analytics_store import AnalyticsStore
from crm_points.config import PointsConfig
from crm_points.ledger_service import PointsService
from crm_points.ledger_store import LedgerStore, ScheduleStore
from crm_points.logs import logger
from crm_points.reconciliation import reconcile
from crm_points.records import CamelModel, UtcDateTime

EXPIRE_POINTS = "expire-points"
EXPIRING_REMINDERS = "expiring-reminders"
SYSTEM_ALERTS = "system-alerts"
RECONCILE_LEDGER = "reconcile-ledger"
# A reconciliation looks back past its last finished run by an hour: a write stamped by a
# clock a little behind, or committing while the last run read, is checked again.
RECONCILE_OVERLAP = timedelta(hours=1)
RECONCILE_FIRST_LOOK_BACK = timedelta(days=2)
# Accounts read at once: a day of 100,000 written accounts at two Queries (~20 ms) each is
# 4,000 s one at a time, 250 s sixteen at a time, inside the function's 900 s timeout.
RECONCILE_WORKERS = 16


class RunReport(CamelModel):
    """What a run did: the customers it read as due, those it wrote for, and those whose
    write failed (the others were done all the same)."""

    schedule: str
    run_time: UtcDateTime
    customers_read: int = 0
    customers_changed: int = 0
    points: int = 0
    transactions: list[str] = Field(default_factory=list)
    customers_failed: list[str] = Field(default_factory=list)


class RunIncomplete(Exception):
    """A daily run that could not do every customer it found due. It fails, so that it is
    retried and then dead-lettered and alarmed; being keyed by its time, the retry does
    again only what is left."""

    def __init__(self, report: RunReport) -> None:
        failed = report.customers_failed
        shown = ", ".join(failed[:20]) + (" …" if len(failed) > 20 else "")
        super().__init__(f"{report.schedule} at {report.run_time}: {len(failed)} failed: {shown}")
        self.report = report


def _each_alone(report: RunReport, customer_id: str, error: Exception) -> None:
    """One customer's failure is logged and counted, and the run goes on to the next."""
    report.customers_failed.append(customer_id)
    logger.exception(
        "a customer of the daily run failed",
        extra={"schedule": report.schedule, "customerId": customer_id, "error": str(error)},
    )


def expire_points(
    service: PointsService, schedules: ScheduleStore, now: datetime, run_id: str
) -> RunReport:
    """EXPIRE every lot due at `now`: one EXPIRE entry per customer (SPEC §6).

    Reads the accounts whose soonest lot expires by `now` (however long ago: an account due
    before it was written, or missed by a failed run, is found all the same), all of them
    before anything is written, since a write moves the account in the index.
    """
    report = RunReport(schedule=EXPIRE_POINTS, run_time=now)
    for customer_id in schedules.accounts_due(now):
        report.customers_read += 1
        try:
            result = service.expire(customer_id=customer_id, now=now, request_id=run_id)
        except Exception as error:  # one account must not stop the others' expiry
            _each_alone(report, customer_id, error)
            continue
        if result is not None and not result.replayed:
            report.customers_changed += 1
            report.points -= sum(entry.points for entry in result.transactions)
            report.transactions.extend(entry.transaction_id for entry in result.transactions)
    if report.customers_failed:
        raise RunIncomplete(report)
    schedules.advance_watermark(EXPIRE_POINTS, now)
    return report


def send_expiring_reminders(
    service: PointsService, schedules: ScheduleStore, now: datetime
) -> RunReport:
    """Remind each customer once per run of the lots that entered the expiring window
    (SPEC §6): the reminder's record drives the POINTS_EXPIRING alert, the pointsExpiring
    notification and the `Points Expiring` event, through the change stream.

    Reads the accounts whose soonest unreminded lot expires from a day before `now` to the
    window's end: a reminded lot leaves the index, so every account read has a lot due a
    reminder (or one about to expire tonight).
    """
    report = RunReport(schedule=EXPIRING_REMINDERS, run_time=now)
    horizon = now + timedelta(days=service.config.expiring_window_days)
    for customer_id in schedules.accounts_to_remind(now - timedelta(days=1), horizon):
        report.customers_read += 1
        try:
            reminder = service.remind_expiring(customer_id=customer_id, now=now)
        except Exception as error:  # one account must not stop the others' reminders
            _each_alone(report, customer_id, error)
            continue
        if reminder is not None:
            report.customers_changed += 1
            report.points += reminder.points
    if report.customers_failed:
        raise RunIncomplete(report)
    return report


class SystemAlertsReport(CamelModel):
    """What a system-alerts run judged, and the alerts it raised (new or counted again)."""

    run_time: UtcDateTime
    month: str
    redemption_rate: Decimal | None
    expiration_rate: Decimal | None
    alerts: list[str] = Field(default_factory=list)


def raise_system_alerts(
    analytics: AnalyticsStore, alerts: AlertStore, config: PointsConfig, now: datetime
) -> SystemAlertsReport:
    """HIGH_EXPIRATION_RATE and LOW_REDEMPTION_RATE for the last full month (SPEC §7, §9).

    A month with nothing outstanding at its start has no rates, and raises nothing. The
    month is the alert's subject and its trigger: a run repeated, or the next day's run
    judging the same month, raises nothing new.
    """
    month = last_full_month(now)
    figures = analytics.analytics(month, now)
    redemption_rate, expiration_rate = month_rates(figures)
    report = SystemAlertsReport(
        run_time=now,
        month=month,
        redemption_rate=redemption_rate,
        expiration_rate=expiration_rate,
    )
    checks = [
        (
            AlertType.HIGH_EXPIRATION_RATE,
            expiration_rate is not None and expiration_rate > config.high_expiration_rate_pct,
            f"{expiration_rate}% of the points outstanding expired in {month} "
            f"(threshold {config.high_expiration_rate_pct}%)",
        ),
        (
            AlertType.LOW_REDEMPTION_RATE,
            redemption_rate is not None and redemption_rate < config.low_redemption_rate_pct,
            f"Only {redemption_rate}% of the points outstanding were redeemed in {month} "
            f"(threshold {config.low_redemption_rate_pct}%)",
        ),
    ]
    for alert_type, raised, message in checks:
        if not raised:
            continue
        alert, _ = alerts.raise_alert(
            new_alert(
                alert_type,
                now=now,
                month=month,
                message=message,
                data=figures.model_dump(mode="json", by_alias=True),
            ),
            f"month:{month}:{alert_type.value}",
        )
        report.alerts.append(alert.alert_id)
    return report


class ReconciliationRunReport(CamelModel):
    """What a daily reconciliation checked: the accounts written since `since`, and every
    difference it found (reconciliation.Difference, as JSON)."""

    run_time: UtcDateTime
    since: UtcDateTime
    accounts: int
    drifted_accounts: int
    differences: list[dict[str, Any]]


def reconcile_ledger(
    store: LedgerStore, schedules: ScheduleStore, now: datetime, workers: int = RECONCILE_WORKERS
) -> ReconciliationRunReport:
    """Check every account written since the last finished run up to `now` (from an hour
    before it, or RECONCILE_FIRST_LOOK_BACK on a first run) against its entries, read from the
    written index: its cost follows what changed. Each difference is logged at ERROR;
    the caller emits the drift metric, whose alarm pages. Never writes to the ledger;
    the watermark moves only when the run finishes, so a failed day is checked by the next.
    """
    last = schedules.watermark(RECONCILE_LEDGER)
    since = last - RECONCILE_OVERLAP if last else now - RECONCILE_FIRST_LOOK_BACK
    # A run replayed after a later one finished has nothing of its own left to check.
    written = store.customers_written_between(since, now) if since < now else []
    found = reconcile(store, written, workers=workers)
    for difference in found.differences:
        logger.error("the ledger has drifted", extra={"difference": difference.as_json()})
    schedules.advance_watermark(RECONCILE_LEDGER, now)
    return ReconciliationRunReport(
        run_time=now,
        since=since,
        accounts=found.accounts,
        drifted_accounts=len({d.customer_id for d in found.differences}),
        differences=[difference.as_json() for difference in found.differences],
    )
