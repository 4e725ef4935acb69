"""The daily runs (SPEC §6) through their real handlers, with the Scheduler's event shape.

Each test gets its own table: a run's watermark belongs to the table, and these tests move
time around.
"""

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.events import ItemsRead, fill_accounts
from crm_points import metrics
from crm_points.alert_store import AlertStore
from crm_points.alerts import AlertType
from crm_points.analytics_store import AnalyticsStore
from crm_points.daily_runs import RunIncomplete
from crm_points.dynamo import to_item
from crm_points.ledger_service import PointsService
from crm_points.ledger_store import LedgerStore, customer_pk
from crm_points.runtime import runtime
from local.template import create_table
from tests.api import ROOT, LambdaContext, handler
from tests.conftest import START, RequestCounter, request
from tests.integration.conftest import Printed
from tests.schedules import scheduled_event

DAY = timedelta(days=1)


@pytest.fixture
def own_table(
    lambda_env: RequestCounter, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A table for this test alone (without a change stream, which these tests do not
    read), which the functions use too; dropped after it."""
    name = f"crm-points-runs-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb, name, stream=False)
    monkeypatch.setenv("TABLE_NAME", name)
    runtime.cache_clear()
    yield name
    dynamodb.delete_table(TableName=name)


@pytest.fixture
def ledger(own_table: str, dynamodb: Any, config: Any) -> PointsService:
    return PointsService(LedgerStore(dynamodb, own_table), config, sleep=lambda _: None)


def customers_with_a_lot(ledger: PointsService, count: int, points: int, days: int) -> list[str]:
    """`count` new customers, each with one lot of `points` expiring `days` after START."""
    customers = [f"cust-{uuid.uuid4().hex[:10]}" for _ in range(count)]
    for customer in customers:
        ledger.award(
            request(),
            customer_id=customer,
            amount=points,
            reason="Due",
            expiry_date=START + days * DAY,
        )
    return customers


def run(name: str, time: datetime) -> Any:
    function = {
        "expire-points": "expire_points",
        "expiring-reminders": "expiring_reminders",
        "system-alerts": "system_alerts",
        "reconcile-ledger": "reconcile_ledger",
    }
    return handler(function[name]).lambda_handler(scheduled_event(name, time), LambdaContext())


def test_the_sample_events_are_what_the_scheduler_sends() -> None:
    for name, sample in [
        ("expire-points", "schedule_expire_points.json"),
        ("expiring-reminders", "schedule_expiring_reminders.json"),
        ("system-alerts", "schedule_system_alerts.json"),
        ("reconcile-ledger", "schedule_reconcile_ledger.json"),
    ]:
        event = json.loads((ROOT / "events" / sample).read_text())
        time = datetime.fromisoformat(event["time"])
        rendered = scheduled_event(name, time, execution_id=event["executionId"])
        assert rendered == event


def test_points_expire_once_at_the_run_time(ledger: PointsService, customer_id: str) -> None:
    ledger.award(
        request(), customer_id=customer_id, amount=300, reason="Short", expiry_date=START + 2 * DAY
    )
    ledger.award(request(), customer_id=customer_id, amount=500, reason="Long")
    early = run("expire-points", START + DAY)
    assert early["customersChanged"] == 0
    report = run("expire-points", START + 3 * DAY)
    assert (report["customersChanged"], report["points"]) == (1, 300)
    again = run("expire-points", START + 3 * DAY)
    assert again["customersChanged"] == 0
    account = ledger.account(customer_id)
    assert (account.current_balance, account.lifetime_expired) == (500, 300)


def test_a_lot_that_was_due_before_it_was_written_still_expires(
    ledger: PointsService, customer_id: str
) -> None:
    run("expire-points", START + 10 * DAY)
    # A booking completed long ago (the booking system's clock) earns a lot already expired.
    ledger.complete_booking(
        request(now=START + 10 * DAY + timedelta(hours=1)),
        customer_id=customer_id,
        booking_id=f"{customer_id}-old",
        completed_at=START - timedelta(days=400),
        amount_cents=20_000,
    )
    report = run("expire-points", START + 11 * DAY)
    assert (report["customersChanged"], report["points"]) == (1, 200)


def test_an_interrupted_run_finishes_when_run_again(
    ledger: PointsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers = customers_with_a_lot(ledger, 5, 100, 1)
    service = runtime().service
    original = service.expire
    done: list[str] = []

    def fail_after_two(**arguments: Any) -> Any:
        if len(done) == 2:
            raise ConnectionError("the run was stopped")
        done.append(arguments["customer_id"])
        return original(**arguments)

    monkeypatch.setattr(service, "expire", fail_after_two)
    with pytest.raises(RunIncomplete):
        run("expire-points", START + 2 * DAY)
    monkeypatch.setattr(service, "expire", original)
    report = run("expire-points", START + 2 * DAY)
    assert report["customersChanged"] == 3
    for customer in customers:
        account = ledger.account(customer)
        assert (account.current_balance, account.lifetime_expired, account.entry_count) == (
            0,
            100,
            2,
        )


def test_one_account_that_fails_does_not_stop_the_others_expiry(
    ledger: PointsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers = customers_with_a_lot(ledger, 4, 100, 1)
    poisoned = customers[1]
    service = runtime().service
    original = service.expire

    def fail_for_one(**arguments: Any) -> Any:
        if arguments["customer_id"] == poisoned:
            raise ValueError("this account cannot be read")
        return original(**arguments)

    monkeypatch.setattr(service, "expire", fail_for_one)
    with pytest.raises(RunIncomplete) as incomplete:
        run("expire-points", START + 2 * DAY)
    assert incomplete.value.report.customers_failed == [poisoned]
    assert incomplete.value.report.customers_changed == 3
    assert poisoned in str(incomplete.value)
    assert [ledger.account(c).lifetime_expired for c in customers] == [100, 0, 100, 100]

    monkeypatch.setattr(service, "expire", original)  # the cause fixed, the run retried
    report = run("expire-points", START + 2 * DAY)
    assert (report["customersChanged"], report["customersFailed"]) == (1, [])
    assert [ledger.account(c).lifetime_expired for c in customers] == [100] * 4


def test_customers_are_reminded_once_per_lot_and_expiry(
    ledger: PointsService, customer_id: str
) -> None:
    ledger.award(
        request(), customer_id=customer_id, amount=400, reason="Soon", expiry_date=START + 20 * DAY
    )
    ledger.award(
        request(), customer_id=customer_id, amount=700, reason="Later", expiry_date=START + 45 * DAY
    )
    first = run("expiring-reminders", START + DAY)
    assert (first["customersChanged"], first["points"]) == (1, 400)
    assert run("expiring-reminders", START + DAY)["customersChanged"] == 0
    assert run("expiring-reminders", START + 2 * DAY)["customersChanged"] == 0
    later = run("expiring-reminders", START + 16 * DAY)
    assert (later["customersChanged"], later["points"]) == (1, 700)
    # A booking moves every lot's expiry a year on: each is reminded again when it comes near.
    ledger.complete_booking(
        request(now=START + 17 * DAY),
        customer_id=customer_id,
        booking_id=f"{customer_id}-b1",
        completed_at=START + 17 * DAY,
        amount_cents=10_000,
    )
    assert run("expiring-reminders", START + 18 * DAY)["customersChanged"] == 0
    renewed = run("expiring-reminders", START + 17 * DAY + timedelta(days=340))
    assert (renewed["customersChanged"], renewed["points"]) == (1, 1_200)


def test_one_account_that_fails_does_not_stop_the_others_reminders(
    ledger: PointsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers = customers_with_a_lot(ledger, 3, 50, 9)
    service = runtime().service
    original = service.remind_expiring

    def fail_for_first(**arguments: Any) -> Any:
        if arguments["customer_id"] == customers[0]:
            raise ValueError("this account cannot be read")
        return original(**arguments)

    monkeypatch.setattr(service, "remind_expiring", fail_for_first)
    with pytest.raises(RunIncomplete) as incomplete:
        run("expiring-reminders", START + DAY)
    assert incomplete.value.report.customers_failed == [customers[0]]
    assert incomplete.value.report.customers_changed == 2
    monkeypatch.setattr(service, "remind_expiring", original)
    again = run("expiring-reminders", START + DAY)  # the run retried: only what is left
    assert (again["customersChanged"], again["points"]) == (1, 50)


def test_system_alerts_judge_the_last_full_month_once(
    ledger: PointsService, own_table: str, dynamodb: Any, customer_id: str
) -> None:
    """September: 1,000 points awarded. October: all of them expire, none is redeemed. So
    October's expiration rate is 100% (> 20%) and its redemption rate 0% (< 5%)."""
    september = datetime(2026, 9, 10, 10, 0, tzinfo=UTC)
    entries = ledger.award(
        request(now=september),
        customer_id=customer_id,
        amount=1_000,
        reason="Campaign",
        expiry_date=datetime(2026, 10, 15, 12, 0, tzinfo=UTC),
    ).transactions
    expired = ledger.expire(
        customer_id=customer_id, now=datetime(2026, 10, 16, tzinfo=UTC), request_id="run"
    )
    assert expired is not None
    analytics = AnalyticsStore(dynamodb, own_table)
    for entry in [*entries, *expired.transactions]:
        analytics.count(entry)
    november = datetime(2026, 11, 2, 4, 0, tzinfo=UTC)
    report = run("system-alerts", november)
    assert report["month"] == "2026-10"
    assert (report["expirationRate"], report["redemptionRate"]) == ("100.0", "0.0")
    alerts = AlertStore(dynamodb, own_table)
    raised = [alerts.get(alert_id) for alert_id in report["alerts"]]
    assert [(a.type, a.month) for a in raised if a] == [
        (AlertType.HIGH_EXPIRATION_RATE, "2026-10"),
        (AlertType.LOW_REDEMPTION_RATE, "2026-10"),
    ]
    again = run("system-alerts", november + DAY)
    assert again["alerts"] == report["alerts"]
    assert all(a and a.occurrences == 1 for a in map(alerts.get, again["alerts"]))


# -- cost follows the lots due, not the table (SPEC §6) -------------------------------------


@pytest.mark.parametrize("size", [10_000, 1_000])
def test_the_expiry_run_reads_what_is_due_not_the_table(
    own_table: str, dynamodb: Any, size: int
) -> None:
    """100,000 lots (10,000 accounts) with 1% due, and a table ten times smaller: the same
    items read per due lot (the due account's index entry, the account and its pages)."""
    now = START + 400 * DAY
    due = size // 10
    fill_accounts(dynamodb, own_table, size, due, now)
    run("expire-points", now - 2 * DAY)  # the previous night's run
    read = ItemsRead(runtime().service.store.client)
    report = run("expire-points", now)
    assert (report["customersChanged"], report["points"]) == (due, due * 10)
    # Per due lot: its account's index entry, the account and its two pages of lots (due
    # now, and a year on), and the configuration at most once.
    assert due * 4 <= read.items <= due * 4 + 3


def test_the_daily_reconciliation_checks_what_was_written_since_its_last_run(
    ledger: PointsService, dynamodb: Any, own_table: str, printed: Printed
) -> None:
    """Each run reads the accounts written since the run before (from the written index,
    on the clock the writes were stamped with), names an account whose stored figures
    differ from its entries, and emits the drift; it never reads the whole table."""
    written = [START]
    ledger.store.clock = lambda: written[0]
    first, second = (f"rec-{uuid.uuid4().hex[:8]}" for _ in range(2))
    for customer in (first, second):
        ledger.award(request(), customer_id=customer, amount=300, reason="Welcome")
    printed.read()
    report = run("reconcile-ledger", START + DAY)
    assert (report["accounts"], report["driftedAccounts"], report["differences"]) == (2, 0, [])
    assert printed.read().metric(metrics.RECONCILIATION_DRIFT) == [0]

    written[0] = START + DAY + timedelta(hours=2)
    third = f"rec-{uuid.uuid4().hex[:8]}"
    ledger.award(request(), customer_id=third, amount=500, reason="Welcome")
    key = to_item({"PK": customer_pk(third), "SK": "STATE"})
    dynamodb.update_item(
        TableName=own_table,
        Key=key,
        UpdateExpression="SET currentBalance = :wrong",
        ExpressionAttributeValues=to_item({":wrong": 5_000}),
    )
    requests = RequestCounter(runtime().service.store.client)
    report = run("reconcile-ledger", START + 2 * DAY)
    assert "Scan" not in requests.calls
    assert (report["accounts"], report["driftedAccounts"]) == (1, 1)
    assert report["differences"] == [
        {"customer_id": third, "field": "currentBalance", "stored": 5_000, "recomputed": 500}
    ]
    printed.lines.clear()
    printed.read()
    assert printed.metric(metrics.RECONCILIATION_DRIFT) == [1]
    assert printed.metric(metrics.DAILY_RUN_COMPLETED, schedule="reconcile-ledger") == [1]
    assert printed.logs("the ledger has drifted")
    # The first night's run, dead-lettered and replayed after the second finished: nothing
    # of its own is left to check, and it finishes all the same.
    replayed = run("reconcile-ledger", START + DAY)
    assert (replayed["accounts"], replayed["driftedAccounts"]) == (0, 0)
