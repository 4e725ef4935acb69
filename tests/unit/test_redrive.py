"""What redriving each dead-letter queue's message does: the original event on the bus, the
daily run invoked again with its input, or the message moved back to its queue."""

import json
from typing import Any

import pytest

from deploy.redrive import (
    EVENTS,
    MOVED_BACK,
    SCHEDULE_FUNCTIONS,
    SCHEDULES,
    Invoke,
    MoveBack,
    PutEvent,
    RedriveRefused,
    plan,
)
from local.template import load_template
from tests.api import ROOT

BOOKING = json.loads((ROOT / "events" / "booking_completed.json").read_text())
RUN = {"schedule": "expire-points", "time": "2027-03-01T22:30:00Z", "executionId": "x-1"}


def on_failure(payload: dict[str, Any]) -> str:
    """Lambda's on-failure record of an asynchronous invocation, as it reaches the queue."""
    return json.dumps(
        {
            "version": "1.0",
            "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": payload,
            "responsePayload": {"errorType": "InsufficientPoints", "errorMessage": "..."},
        }
    )


def test_a_failed_booking_event_goes_on_the_bus_again_as_it_was():
    for queue, body in (
        ("BookingEventsDeadLetters", on_failure(BOOKING)),  # Lambda's on-failure record
        ("BookingRulesDeadLetters", json.dumps(BOOKING)),  # EventBridge's own dead letter
    ):
        action = plan(queue, body)
        assert action == PutEvent(
            "bookings", "Booking Completed", json.dumps(BOOKING["detail"], separators=(",", ":"))
        )
        assert isinstance(action, PutEvent)
        assert action.entry("crm-points-dev")["EventBusName"] == "crm-points-dev"
        assert json.loads(action.entry("bus")["Detail"]) == BOOKING["detail"]


def test_a_failed_daily_run_is_invoked_again_with_its_recorded_time():
    assert plan(SCHEDULES, on_failure(RUN)) == Invoke("ExpirePointsFunction", RUN)
    assert plan(SCHEDULES, json.dumps(RUN)) == Invoke("ExpirePointsFunction", RUN)


def test_notifications_and_bulk_rows_go_back_to_their_queue():
    assert plan("NotificationsDeadLetters", "{any body}") == MoveBack(
        "NotificationsQueue", "{any body}"
    )
    assert plan("BulkAwardDeadLetters", "rows") == MoveBack("BulkAwardQueue", "rows")


@pytest.mark.parametrize(
    ("queue", "body"),
    [
        ("StreamDeadLetters", "{}"),  # its effects are re-derived from the ledger instead
        ("BookingEventsDeadLetters", "not json"),
        ("BookingEventsDeadLetters", "[1]"),
        ("BookingEventsDeadLetters", on_failure({**BOOKING, "source": "crm.points"})),
        ("BookingRulesDeadLetters", json.dumps({**BOOKING, "detail": "text"})),
        (SCHEDULES, json.dumps({**RUN, "schedule": "weekly"})),
        (SCHEDULES, json.dumps({"schedule": "expire-points"})),
    ],
)
def test_a_message_it_cannot_replay_is_refused_and_stays(queue, body):
    with pytest.raises(RedriveRefused):
        plan(queue, body)


def test_the_queues_and_functions_are_the_templates():
    resources = load_template()["Resources"]
    for dead_letters, queue in MOVED_BACK.items():
        redrive = resources[queue]["Properties"]["RedrivePolicy"]
        assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": f"{dead_letters}.Arn"}
    scheduled = {}
    for name, resource in resources.items():
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event["Type"] == "ScheduleV2":
                scheduled[json.loads(event["Properties"]["Input"])["schedule"]] = name
    assert scheduled == SCHEDULE_FUNCTIONS
    assert all(resources[queue]["Type"] == "AWS::SQS::Queue" for queue in (*EVENTS, SCHEDULES))
