"""Alerts as plain Python (SPEC §7): what a new alert holds, how it changes, how it is
stored and paged."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from crm_points.alert_store import alert_item
from crm_points.alerts import (
    ACTIONS,
    Alert,
    AlertPriority,
    AlertStatus,
    AlertType,
    acknowledged,
    new_alert,
    resolved,
    triggered_again,
)
from crm_points.api_models import AlertNoteRequest
from crm_points.dynamo import to_item
from crm_points.errors import ValidationFailed
from crm_points.ledger_store import decode_key, encode_key, index_shard
from crm_points.records import Actor

NOW = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
MANAGER = Actor(user_id="alice", role="MANAGER")


def customer_alert(
    alert_type: AlertType = AlertType.NEGATIVE_BALANCE, now: datetime = NOW, **data: Any
) -> Alert:
    return new_alert(
        alert_type, now=now, message="Balance below zero", data=data, customer_id="cust-1"
    )


@pytest.mark.parametrize(
    ("alert_type", "priority", "action"),
    [
        (
            AlertType.POINTS_EXPIRING,
            "MEDIUM",
            "Show in customer profile + send notification",
        ),
        (AlertType.LARGE_REDEMPTION, "LOW", "Flag for manager review"),
        (AlertType.NEGATIVE_BALANCE, "HIGH", "Immediate admin notification"),
    ],
)
def test_a_customer_alert_takes_its_priority_and_action_from_the_spec(alert_type, priority, action):
    alert = customer_alert(alert_type, balance=-500)
    assert (alert.priority.value, alert.action) == (priority, action)
    assert alert.status is AlertStatus.OPEN
    assert (alert.customer_id, alert.month, alert.subject) == ("cust-1", None, "CUSTOMER#cust-1")
    assert alert.occurrences == 1
    assert alert.created_at == alert.last_triggered_at == NOW
    assert alert.data == {"balance": -500}


@pytest.mark.parametrize(
    ("alert_type", "priority", "action"),
    [
        (AlertType.HIGH_EXPIRATION_RATE, "MEDIUM", "Business strategy review"),
        (AlertType.LOW_REDEMPTION_RATE, "LOW", "Points value adjustment needed"),
    ],
)
def test_a_system_alert_is_about_a_month(alert_type, priority, action):
    alert = new_alert(alert_type, now=NOW, message="February", data={"rate": 23.4}, month="2026-02")
    assert (alert.priority.value, alert.action) == (priority, action)
    assert (alert.customer_id, alert.month, alert.subject) == (None, "2026-02", "MONTH#2026-02")


def test_every_type_has_an_action():
    assert set(ACTIONS) == set(AlertType)


@pytest.mark.parametrize(
    ("alert_type", "subject"),
    [
        (AlertType.NEGATIVE_BALANCE, {"month": "2026-02"}),
        (AlertType.NEGATIVE_BALANCE, {}),
        (AlertType.NEGATIVE_BALANCE, {"customer_id": "c", "month": "2026-02"}),
        (AlertType.HIGH_EXPIRATION_RATE, {"customer_id": "c"}),
        (AlertType.HIGH_EXPIRATION_RATE, {}),
        (AlertType.LOW_REDEMPTION_RATE, {"month": "2026-13"}),
        (AlertType.LOW_REDEMPTION_RATE, {"month": "2026-2"}),
    ],
)
def test_an_alert_names_the_subject_its_type_is_about(alert_type, subject):
    with pytest.raises(ValueError, match=r"month|customer"):
        new_alert(alert_type, now=NOW, message="m", data={}, **subject)


def test_alert_ids_are_new_and_sort_by_creation():
    first = customer_alert(now=NOW)
    second = customer_alert(now=NOW + timedelta(milliseconds=1))
    assert first.alert_id != second.alert_id
    assert first.alert_id < second.alert_id
    assert len(first.alert_id) == 26


def test_the_wire_form_is_camel_case_and_round_trips():
    alert = acknowledged(customer_alert(balance=-1), MANAGER, NOW, "On it")
    wire = json.loads(alert.model_dump_json(by_alias=True))
    assert wire["alertId"] == alert.alert_id
    assert wire["priority"] == "HIGH"
    assert wire["status"] == "ACKNOWLEDGED"
    assert wire["acknowledgedBy"] == {"userId": "alice", "role": "MANAGER"}
    assert wire["acknowledgedAt"] == "2026-03-01T06:00:00.000Z"
    assert wire["acknowledgeNote"] == "On it"
    assert wire["lastTriggeredAt"] == "2026-03-01T06:00:00.000Z"
    assert Alert.model_validate(wire) == alert
    with pytest.raises(ValidationError):
        Alert.model_validate({**wire, "unknown": 1})


def test_acknowledge_then_resolve_keeps_who_did_what():
    later = NOW + timedelta(hours=2)
    alert = resolved(acknowledged(customer_alert(), MANAGER, NOW, None), MANAGER, later, "Done")
    assert alert.status is AlertStatus.RESOLVED
    assert (alert.acknowledged_by, alert.acknowledged_at) == (MANAGER, NOW)
    assert (alert.resolved_by, alert.resolved_at, alert.resolve_note) == (MANAGER, later, "Done")


def test_a_new_trigger_counts_and_shows_what_is_true_now():
    alert = acknowledged(customer_alert(balance=-100), MANAGER, NOW, None)
    later = customer_alert(now=NOW + timedelta(days=1), balance=-300)
    again = triggered_again(alert, later)
    assert again.occurrences == 2
    assert again.status is AlertStatus.ACKNOWLEDGED
    assert (again.last_triggered_at, again.data) == (later.created_at, {"balance": -300})
    assert again.created_at == NOW
    # An older trigger delivered late only counts.
    late = triggered_again(again, customer_alert(now=NOW + timedelta(hours=1), balance=-200))
    assert late.occurrences == 3
    assert (late.last_triggered_at, late.data) == (later.created_at, {"balance": -300})


def test_the_stored_alert_sits_in_the_indexes_under_its_status_subject_and_write():
    alert = customer_alert()
    written = NOW + timedelta(days=3, seconds=1)  # when it was written, not its business time
    item = alert_item(alert, 1, written)
    newest_first = f"2026-03-01T06:00:00.000Z#{alert.alert_id}"
    assert item["entity"] == "ALERT"
    # The status index is sharded by the subject: a reminder run raises one per customer.
    shard = index_shard("CUSTOMER#cust-1")
    assert (item["statusKey"], item["statusSort"]) == (f"ALERT#OPEN#{shard:02d}", newest_first)
    assert (item["subjectKey"], item["subjectSort"]) == ("CUSTOMER#cust-1", newest_first)
    assert item["version"] == 1
    assert (item["writtenShard"], item["writtenAt"]) == (
        f"WRITTEN#{shard:02d}",
        "2026-03-04T06:00:01.000Z",
    )
    monthly = new_alert(
        AlertType.LOW_REDEMPTION_RATE, now=NOW, message="m", data={}, month="2026-02"
    )
    month_shard = index_shard("MONTH#2026-02")
    assert alert_item(resolved(monthly, MANAGER, NOW, None), 2, NOW)["statusKey"] == (
        f"ALERT#RESOLVED#{month_shard:02d}"
    )
    assert alert_item(monthly, 1, NOW)["subjectKey"] == "MONTH#2026-02"


def test_a_cursor_is_only_taken_for_the_query_that_issued_it():
    keys = to_item({"PK": "ALERT#x", "SK": "ALERT", "statusKey": "ALERT#OPEN", "statusSort": "t#x"})
    allowed = set(keys)
    cursor = encode_key(keys, "alerts|OPEN")
    assert cursor is not None
    assert decode_key(cursor, allowed, "alerts|OPEN") == keys
    for bad, scope in (
        (cursor, "alerts|RESOLVED"),  # issued for OPEN, used for RESOLVED
        (encode_key({k: v for k, v in keys.items() if k != "SK"}, "alerts|OPEN"), "alerts|OPEN"),
        (encode_key({**keys, "statusKey": {"N": "5"}}, "alerts|OPEN"), "alerts|OPEN"),
        ("not a cursor!", "alerts|OPEN"),
        ("W10", "alerts|OPEN"),  # a JSON list
    ):
        assert bad is not None
        with pytest.raises(ValidationFailed) as refused:
            decode_key(bad, allowed, scope)
        assert refused.value.details == {"field": "cursor"}


def test_a_note_is_one_to_500_characters_and_nothing_else_is_taken():
    assert AlertNoteRequest.model_validate({"note": "x" * 500}).note == "x" * 500
    assert AlertNoteRequest.model_validate({}).note is None
    for bad in ({"note": ""}, {"note": "x" * 501}, {"note": "ok", "reason": "extra"}):
        with pytest.raises(ValidationError):
            AlertNoteRequest.model_validate(bad)


def test_priorities_are_spelled_in_capitals():
    assert [priority.value for priority in AlertPriority] == ["HIGH", "MEDIUM", "LOW"]
