"""Alerts on DynamoDB Local (SPEC §7): one unresolved alert per type and subject, under
concurrency too; triggers that replay; acknowledge and resolve through the real handlers,
with their replays and refusals; filters and paging; one request per read route."""

import itertools
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError

from crm_points.alert_store import LOCK_SK, AlertStore, lock_pk
from crm_points.alerts import Alert, AlertStatus, AlertType, new_alert
from crm_points.errors import Conflict
from crm_points.ledger_store import INDEX_SHARDS
from crm_points.records import Actor
from crm_points.runtime import runtime
from local.dynamodb_local import client
from local.template import create_table
from tests.api import call

MANAGER = Actor(user_id="alice", role="MANAGER")
# Alerts made here are newer than any other test's, so they head the cross-customer lists.
_clock = itertools.count()


def later() -> datetime:
    return datetime(2040, 1, 1, tzinfo=UTC) + timedelta(seconds=next(_clock))


@pytest.fixture
def alerts(dynamodb: Any, table_name: str) -> AlertStore:
    return AlertStore(dynamodb, table_name, sleep=lambda _: None)


def negative(customer_id: str, balance: int = -100, now: datetime | None = None) -> Alert:
    return new_alert(
        AlertType.NEGATIVE_BALANCE,
        now=now or later(),
        message=f"Balance is {balance}",
        data={"balance": balance},
        customer_id=customer_id,
    )


def monthly(alert_type: AlertType, month: str) -> Alert:
    return new_alert(alert_type, now=later(), message=month, data={"rate": 1.5}, month=month)


def trigger() -> str:
    return f"entry:{uuid.uuid4().hex}"


def stored_alerts(alerts: AlertStore, customer_id: str) -> list[Alert]:
    found, _ = alerts.for_customer(customer_id, limit=100)
    return found


def lock_holder(alerts: AlertStore, alert: Alert) -> str | None:
    item = alerts.client.get_item(
        TableName=alerts.table,
        Key={"PK": {"S": lock_pk(alert.type, alert.subject)}, "SK": {"S": LOCK_SK}},
        ConsistentRead=True,
    ).get("Item", {})
    return item["alertId"]["S"] if "alertId" in item else None


# -- raising ---------------------------------------------------------------------------


def test_a_raised_alert_is_stored_for_the_change_stream(alerts, customer_id):
    alert, created = alerts.raise_alert(negative(customer_id), trigger())
    assert created
    assert alerts.get(alert.alert_id) == alert
    item = alerts.client.get_item(
        TableName=alerts.table,
        Key={"PK": {"S": f"ALERT#{alert.alert_id}"}, "SK": {"S": "ALERT"}},
    )["Item"]
    assert item["entity"] == {"S": "ALERT"}
    assert lock_holder(alerts, alert) == alert.alert_id


def test_the_same_trigger_twice_makes_nothing_the_second_time(alerts, customer_id):
    key = trigger()
    first, created = alerts.raise_alert(negative(customer_id, -100), key)
    again, created_again = alerts.raise_alert(negative(customer_id, -100), key)
    assert (created, created_again) == (True, False)
    assert again == first
    assert again.occurrences == 1
    assert stored_alerts(alerts, customer_id) == [first]


def test_another_trigger_counts_on_the_unresolved_alert(alerts, customer_id):
    first, _ = alerts.raise_alert(negative(customer_id, -100), trigger())
    second_trigger = negative(customer_id, -300)
    again, created = alerts.raise_alert(second_trigger, trigger())
    assert not created
    assert again.alert_id == first.alert_id
    assert again.occurrences == 2
    assert again.last_triggered_at == second_trigger.created_at
    assert (again.message, again.data) == ("Balance is -300", {"balance": -300})
    assert stored_alerts(alerts, customer_id) == [again]


def test_other_types_and_subjects_have_alerts_of_their_own(alerts, customer_id):
    alerts.raise_alert(negative(customer_id), trigger())
    _, other_type = alerts.raise_alert(
        new_alert(
            AlertType.LARGE_REDEMPTION,
            now=later(),
            message="12,000 points redeemed",
            data={"points": 12_000},
            customer_id=customer_id,
        ),
        trigger(),
    )
    _, other_customer = alerts.raise_alert(negative(f"{customer_id}-b"), trigger())
    assert other_type
    assert other_customer
    assert len(stored_alerts(alerts, customer_id)) == 2


def test_system_alerts_are_one_per_type_and_month(alerts):
    month = f"{2100 + next(_clock) % 800}-02"
    _, first = alerts.raise_alert(monthly(AlertType.HIGH_EXPIRATION_RATE, month), trigger())
    again, second = alerts.raise_alert(monthly(AlertType.HIGH_EXPIRATION_RATE, month), trigger())
    _, other_type = alerts.raise_alert(monthly(AlertType.LOW_REDEMPTION_RATE, month), trigger())
    _, other_month = alerts.raise_alert(
        monthly(AlertType.HIGH_EXPIRATION_RATE, month.replace("-02", "-03")), trigger()
    )
    assert (first, second, other_type, other_month) == (True, False, True, True)
    assert again.occurrences == 2


def test_after_resolving_a_new_trigger_makes_a_new_alert(alerts, customer_id):
    first, _ = alerts.raise_alert(negative(customer_id), trigger())
    alerts.resolve(first.alert_id, MANAGER, later(), "Settled", idempotency_key=trigger())
    assert lock_holder(alerts, first) is None
    second, created = alerts.raise_alert(negative(customer_id), trigger())
    assert created
    assert second.alert_id != first.alert_id
    assert lock_holder(alerts, second) == second.alert_id
    statuses = {a.alert_id: a.status for a in stored_alerts(alerts, customer_id)}
    assert statuses == {first.alert_id: AlertStatus.RESOLVED, second.alert_id: AlertStatus.OPEN}


def test_a_trigger_replayed_after_its_alert_was_resolved_makes_nothing(alerts, customer_id):
    key = trigger()
    first, _ = alerts.raise_alert(negative(customer_id), key)
    alerts.resolve(first.alert_id, MANAGER, later(), None, idempotency_key=trigger())
    replayed, created = alerts.raise_alert(negative(customer_id), key)
    assert not created
    assert (replayed.alert_id, replayed.status) == (first.alert_id, AlertStatus.RESOLVED)
    assert len(stored_alerts(alerts, customer_id)) == 1


def test_concurrent_triggers_make_one_alert_and_count_each_once(
    alerts: AlertStore, customer_id: str
) -> None:
    threads = 8
    barrier = threading.Barrier(threads)

    def raise_one(_: int) -> tuple[Alert, bool]:
        barrier.wait()
        return alerts.raise_alert(negative(customer_id), trigger())

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(raise_one, range(threads)))
    assert sum(created for _, created in results) == 1
    assert len({alert.alert_id for alert, _ in results}) == 1
    (stored,) = stored_alerts(alerts, customer_id)
    assert stored.occurrences == threads


def test_one_trigger_delivered_at_once_many_times_counts_once(
    alerts: AlertStore, customer_id: str
) -> None:
    threads = 6
    key = trigger()
    barrier = threading.Barrier(threads)

    def deliver(_: int) -> tuple[Alert, bool]:
        barrier.wait()
        return alerts.raise_alert(negative(customer_id), key)

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(deliver, range(threads)))
    assert sum(created for _, created in results) == 1
    (stored,) = stored_alerts(alerts, customer_id)
    assert stored.occurrences == 1


def test_triggers_racing_resolutions_count_each_trigger_on_exactly_one_alert(
    alerts: AlertStore, customer_id: str
) -> None:
    triggers = 12
    stop = threading.Event()
    failures: list[Exception] = []

    def resolver() -> None:
        while not stop.is_set():
            for alert in stored_alerts(alerts, customer_id):
                if alert.status is AlertStatus.RESOLVED:
                    continue
                try:
                    alerts.resolve(
                        alert.alert_id, MANAGER, later(), None, idempotency_key=trigger()
                    )
                except Conflict:
                    continue  # a trigger changed it first, or it was resolved already
                except Exception as error:
                    failures.append(error)

    def raise_one(_: int) -> tuple[Alert, bool]:
        return alerts.raise_alert(negative(customer_id), trigger())

    background = threading.Thread(target=resolver)
    background.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(raise_one, range(triggers)))
    finally:
        stop.set()
        background.join()
    assert failures == []
    stored = stored_alerts(alerts, customer_id)
    assert sum(alert.occurrences for alert in stored) == triggers
    assert len(stored) == sum(created for _, created in results)
    unresolved = [alert for alert in stored if alert.status is not AlertStatus.RESOLVED]
    assert len(unresolved) <= 1
    holder = lock_holder(alerts, stored[0])
    assert holder == (unresolved[0].alert_id if unresolved else None)


def drop_answer_of_next_transaction(alerts: AlertStore) -> list[str]:
    """The next TransactWriteItems takes effect, and its answer is lost on the way back."""
    dropped: list[str] = []

    def drop(model: Any, **_: Any) -> None:
        if model.name == "TransactWriteItems" and not dropped:
            dropped.append(model.name)
            raise ConnectionClosedError(endpoint_url="https://fault.invalid")

    alerts.client.meta.events.register("after-call.dynamodb", drop)
    return dropped


def test_a_lost_answer_is_learned_from_the_trigger_record(alerts, customer_id):
    dropped = drop_answer_of_next_transaction(alerts)
    first, created = alerts.raise_alert(negative(customer_id), trigger())
    assert dropped
    assert created
    assert stored_alerts(alerts, customer_id) == [first]

    dropped.clear()
    again, created = alerts.raise_alert(negative(customer_id), trigger())
    assert dropped
    assert not created
    assert again.occurrences == 2
    assert stored_alerts(alerts, customer_id) == [again]

    dropped.clear()
    change = alerts.resolve(first.alert_id, MANAGER, later(), "Done", idempotency_key=trigger())
    assert dropped
    assert change.answer.status is AlertStatus.RESOLVED
    assert alerts.get(first.alert_id) == change.answer
    assert lock_holder(alerts, first) is None


# -- acknowledge and resolve through the API -------------------------------------------


def test_acknowledge_then_resolve(lambda_env, alerts, customer_id):
    alert, _ = alerts.raise_alert(negative(customer_id), trigger())
    path = f"/api/crm/alerts/{alert.alert_id}"

    seen = call("POST", f"{path}/acknowledge", user="alice", body={"note": "Calling the customer"})
    assert seen.status == 200, seen.body
    assert seen.headers["Idempotent-Replayed"] == "false"
    assert seen.body["status"] == "ACKNOWLEDGED"
    assert seen.body["acknowledgedBy"] == {"userId": "alice", "role": "MANAGER"}
    assert seen.body["acknowledgeNote"] == "Calling the customer"

    done = call("POST", f"{path}/resolve", role="ADMIN", user="root")
    assert done.status == 200, done.body
    assert done.body["status"] == "RESOLVED"
    assert done.body["resolvedBy"] == {"userId": "root", "role": "ADMIN"}
    assert done.body["acknowledgedBy"] == {"userId": "alice", "role": "MANAGER"}
    assert "resolveNote" not in done.body or done.body["resolveNote"] is None
    assert alerts.get(alert.alert_id) == Alert.model_validate(done.body)
    assert lock_holder(alerts, alert) is None


def test_an_open_alert_may_be_resolved_at_once(lambda_env, alerts, customer_id):
    alert, _ = alerts.raise_alert(negative(customer_id), trigger())
    done = call("POST", f"/api/crm/alerts/{alert.alert_id}/resolve", body={"note": "Fixed"})
    assert (done.status, done.body["status"], done.body["resolveNote"]) == (
        200,
        "RESOLVED",
        "Fixed",
    )
    assert done.body.get("acknowledgedBy") is None


def test_a_replay_answers_the_first_answer_and_a_reused_key_is_refused(
    lambda_env, alerts, customer_id
):
    alert, _ = alerts.raise_alert(negative(customer_id), trigger())
    path = f"/api/crm/alerts/{alert.alert_id}/acknowledge"
    first = call("POST", path, body={"note": "Mine"}, key="ack-key-" + customer_id)
    replay = call("POST", path, body={"note": "Mine"}, key="ack-key-" + customer_id)
    assert (replay.status, replay.body) == (first.status, first.body)
    assert replay.headers["Idempotent-Replayed"] == "true"
    reused = call("POST", path, body={"note": "Other"}, key="ack-key-" + customer_id)
    assert (reused.status, reused.code) == (422, "IDEMPOTENCY_KEY_REUSED")
    by_someone_else = call(
        "POST", path, user="bob", body={"note": "Mine"}, key="ack-key-" + customer_id
    )
    # Bob's key is his own: his request is a new one, for an alert already acknowledged.
    assert (by_someone_else.status, by_someone_else.code) == (409, "CONFLICT")
    # The request still answers as it did after the alert moved on.
    resolved = call("POST", f"/api/crm/alerts/{alert.alert_id}/resolve", key="res-" + customer_id)
    assert resolved.status == 200
    assert (
        call("POST", path, body={"note": "Mine"}, key="ack-key-" + customer_id).body == first.body
    )
    assert (
        call("POST", f"/api/crm/alerts/{alert.alert_id}/resolve", key="res-" + customer_id).body
        == resolved.body
    )


def test_refusals(lambda_env, alerts, customer_id):
    alert, _ = alerts.raise_alert(negative(customer_id), trigger())
    path = f"/api/crm/alerts/{alert.alert_id}"
    assert call("POST", f"{path}/acknowledge").status == 200
    twice = call("POST", f"{path}/acknowledge")
    assert (twice.status, twice.code) == (409, "CONFLICT")
    assert twice.body["error"]["details"]["status"] == "ACKNOWLEDGED"
    assert call("POST", f"{path}/resolve").status == 200
    for verb in ("acknowledge", "resolve"):
        again = call("POST", f"{path}/{verb}")
        assert (again.status, again.code) == (409, "CONFLICT"), verb
    unknown = call("POST", "/api/crm/alerts/01ARZ3NDEKTSV4RRFFQ69G5FAV/resolve")
    assert (unknown.status, unknown.code) == (404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"note": ""}, None),
        ({"note": "x" * 501}, None),
        ({"note": "ok", "reason": "unknown field"}, None),
        ("not json", None),
        ({"note": "ok"}, ""),  # no Idempotency-Key
    ],
)
def test_bad_input_is_a_422_and_changes_nothing(lambda_env, alerts, customer_id, body, key):
    alert, _ = alerts.raise_alert(negative(customer_id), trigger())
    answer = call("POST", f"/api/crm/alerts/{alert.alert_id}/resolve", body=body, key=key)
    assert (answer.status, answer.code) == (422, "VALIDATION_ERROR")
    assert alerts.get(alert.alert_id) == alert


def test_concurrent_resolutions_resolve_once(lambda_env, alerts, customer_id):
    alert, _ = alerts.raise_alert(negative(customer_id), trigger())
    barrier = threading.Barrier(4)

    def resolve(user: str) -> int:
        barrier.wait()
        return alerts_resolve_status(alert.alert_id, user)

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(resolve, ["a", "b", "c", "d"]))
    assert statuses == [200, 409, 409, 409]


def alerts_resolve_status(alert_id: str, user: str) -> int:
    return call("POST", f"/api/crm/alerts/{alert_id}/resolve", user=user).status


def test_writes_cost_one_read_and_one_transaction(lambda_env, alerts, customer_id):
    alert, _ = alerts.raise_alert(negative(customer_id), trigger())
    lambda_env.reset()
    assert call("POST", f"/api/crm/alerts/{alert.alert_id}/acknowledge").status == 200
    assert lambda_env.calls == {"GetItem": 1, "TransactWriteItems": 1}
    lambda_env.reset()
    assert call("POST", f"/api/crm/alerts/{alert.alert_id}/resolve").status == 200
    assert lambda_env.calls == {"GetItem": 1, "TransactWriteItems": 1}


# -- reading ---------------------------------------------------------------------------


def test_a_customers_alerts_of_every_status_newest_first_and_filtered(
    lambda_env, alerts, customer_id
):
    expiring, _ = alerts.raise_alert(
        new_alert(
            AlertType.POINTS_EXPIRING,
            now=later(),
            message="500 points expire in 30 days",
            data={"points": 500},
            customer_id=customer_id,
        ),
        trigger(),
    )
    old, _ = alerts.raise_alert(negative(customer_id), trigger())
    alerts.resolve(old.alert_id, MANAGER, later(), None, idempotency_key=trigger())
    current, _ = alerts.raise_alert(negative(customer_id), trigger())
    path = f"/api/crm/customers/{customer_id}/alerts"

    def ids(query: dict[str, str] | None = None) -> list[str]:
        answer = call("GET", path, role="SUPPORT_AGENT", query=query)
        assert answer.status == 200, answer.body
        return [alert["alertId"] for alert in answer.body["alerts"]]

    assert ids() == [current.alert_id, old.alert_id, expiring.alert_id]
    assert ids({"status": "RESOLVED"}) == [old.alert_id]
    assert ids({"status": "OPEN"}) == [current.alert_id, expiring.alert_id]
    assert ids({"priority": "MEDIUM"}) == [expiring.alert_id]
    assert ids({"type": "NEGATIVE_BALANCE", "status": "OPEN"}) == [current.alert_id]
    assert call("GET", "/api/crm/customers/nobody-at-all/alerts").body == {
        "alerts": [],
        "nextCursor": None,
    }


def test_a_customers_alerts_page_by_cursor(lambda_env, alerts, customer_id):
    made = []
    for _ in range(3):
        alert, _ = alerts.raise_alert(negative(customer_id), trigger())
        alerts.resolve(alert.alert_id, MANAGER, later(), None, idempotency_key=trigger())
        made.append(alert.alert_id)
    path = f"/api/crm/customers/{customer_id}/alerts"
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = call("GET", path, query=query).body
        seen += [alert["alertId"] for alert in page["alerts"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == made[::-1]


def test_the_alert_list_is_open_alerts_by_default_newest_first(lambda_env, alerts, customer_id):
    month = f"{2100 + next(_clock) % 800}-05"
    rate, _ = alerts.raise_alert(monthly(AlertType.LOW_REDEMPTION_RATE, month), trigger())
    mine, _ = alerts.raise_alert(negative(customer_id), trigger())
    settled, _ = alerts.raise_alert(negative(f"{customer_id}-b"), trigger())
    alerts.resolve(settled.alert_id, MANAGER, later(), None, idempotency_key=trigger())

    def page(query: dict[str, str] | None = None) -> list[dict[str, Any]]:
        answer = call("GET", "/api/crm/alerts", query=query)
        assert answer.status == 200, answer.body
        alerts_seen: list[dict[str, Any]] = answer.body["alerts"]
        return alerts_seen

    newest = page({"limit": "2"})
    assert [a["alertId"] for a in newest] == [mine.alert_id, rate.alert_id]
    assert all(a["status"] == "OPEN" for a in page())
    assert page({"status": "RESOLVED", "limit": "1"})[0]["alertId"] == settled.alert_id
    high = page({"priority": "HIGH", "limit": "5"})
    assert high[0]["alertId"] == mine.alert_id
    assert {a["priority"] for a in high} == {"HIGH"}
    by_type = page({"type": "LOW_REDEMPTION_RATE", "limit": "5"})
    assert by_type[0] == {**rate.model_dump(mode="json", by_alias=True)}


def test_a_cursor_of_another_status_is_refused(lambda_env, alerts, customer_id):
    for _ in range(2):
        alerts.raise_alert(negative(f"{customer_id}-{uuid.uuid4().hex[:4]}"), trigger())
    cursor = call("GET", "/api/crm/alerts", query={"limit": "1"}).body["nextCursor"]
    assert cursor
    refused = call("GET", "/api/crm/alerts", query={"status": "RESOLVED", "cursor": cursor})
    assert (refused.status, refused.code) == (422, "VALIDATION_ERROR")
    assert refused.body["error"]["details"] == {"field": "cursor"}


@pytest.mark.parametrize(
    "query",
    [
        {"status": "CLOSED"},
        {"priority": "URGENT"},
        {"type": "OTHER"},
        {"limit": "0"},
        {"limit": "101"},
    ],
)
def test_bad_filters_are_a_422(lambda_env, query):
    for path in ("/api/crm/alerts", "/api/crm/customers/cust-1/alerts"):
        answer = call("GET", path, query=query)
        assert (answer.status, answer.code) == (422, "VALIDATION_ERROR"), (path, query)


@pytest.mark.parametrize(
    ("path_of", "query", "queries"),
    [
        # Every customer's alerts of a status: one Query per shard of the status index, in
        # parallel; a customer's: one Query.
        (lambda c: "/api/crm/alerts", None, INDEX_SHARDS),
        (
            lambda c: "/api/crm/alerts",
            {"status": "RESOLVED", "priority": "HIGH", "type": "NEGATIVE_BALANCE"},
            INDEX_SHARDS,
        ),
        (lambda c: f"/api/crm/customers/{c}/alerts", None, 1),
        (lambda c: f"/api/crm/customers/{c}/alerts", {"status": "OPEN", "priority": "HIGH"}, 1),
    ],
)
def test_each_read_is_one_round_of_queries(
    lambda_env, alerts, customer_id, path_of, query, queries
):
    alerts.raise_alert(negative(customer_id), trigger())
    lambda_env.reset()
    assert call("GET", path_of(customer_id), query=query).status == 200
    assert lambda_env.calls == {"Query": queries}


def test_a_status_without_alerts_is_an_empty_page(lambda_env, dynamodb_endpoint, monkeypatch):
    """Every shard empty (a table of its own): 200 with no alerts and no cursor."""
    table = f"crm-points-no-alerts-{uuid.uuid4().hex[:8]}"
    create_table(client(dynamodb_endpoint), table)
    monkeypatch.setenv("TABLE_NAME", table)
    runtime.cache_clear()
    answer = call(
        "GET", "/api/crm/alerts", query={"status": "ACKNOWLEDGED", "type": "LOW_REDEMPTION_RATE"}
    )
    assert (answer.status, answer.body["alerts"], answer.body["nextCursor"]) == (200, [], None)
