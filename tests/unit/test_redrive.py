"""What redriving each dead-letter queue's message does: the original event on the bus, the
daily run invoked again with its input, or the message moved back to its queue."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from deploy.redrive import (
    EVENTS,
    MOVED_BACK,
    REPLAY_EVENT_BYTES,
    SCHEDULE_FUNCTIONS,
    SCHEDULES,
    STREAM,
    STREAM_FUNCTION,
    Invoke,
    MoveBack,
    PutEvent,
    RedriveRefused,
    ReplayStream,
    plan,
    replay_stream,
    stream_events,
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
    assert plan("ExportDeadLetters", "page") == MoveBack("ExportQueue", "page")


def stream_failure(**batch: Any) -> str:
    """Lambda's on-failure record of a stream batch: where and when, not the records."""
    info = {
        "shardId": "shardId-00000001",
        "startSequenceNumber": "100",
        "endSequenceNumber": "180",
        "approximateArrivalOfFirstRecord": "2027-03-01T08:00:00.000Z",
        "approximateArrivalOfLastRecord": "2027-03-01T08:00:03.000Z",
        "batchSize": 40,
        "streamArn": "arn:aws:dynamodb:af-south-1:1:table/t/stream/x",
    }
    return json.dumps({"requestContext": {}, "DDBStreamBatchInfo": {**info, **batch}})


def test_a_failed_stream_batch_is_replayed_from_what_was_written_around_it():
    action = plan(STREAM, stream_failure())
    arrived = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
    assert action == ReplayStream(
        arrived - timedelta(minutes=5), arrived + timedelta(seconds=3, minutes=5), records=40
    )


def test_a_replay_gives_the_stream_function_insert_records_a_hundred_at_a_time():
    items = [
        {"PK": {"S": f"CUST#c{n}"}, "SK": {"S": "LEDGER#1"}, "n": {"N": str(n)}} for n in range(250)
    ]
    events = list(stream_events(items))
    assert [len(event["Records"]) for event in events] == [100, 100, 50]
    records = [record for event in events for record in event["Records"]]
    assert [record["dynamodb"]["NewImage"] for record in records] == items
    assert {record["eventName"] for record in records} == {"INSERT"}
    numbers = [record["dynamodb"]["SequenceNumber"] for record in records]
    assert numbers == sorted(numbers, key=int)
    assert len(set(numbers)) == 250
    window = ReplayStream(
        datetime(2027, 3, 1, tzinfo=UTC), datetime(2027, 3, 2, tzinfo=UTC), records=250
    )
    answers: list[dict[str, Any]] = []

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        answers.append(event)
        return {"batchItemFailures": []}

    assert replay_stream(window, lambda start, end: items, invoke) == 250
    assert len(answers) == 3

    def fails(event: dict[str, Any]) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": "1"}]}

    with pytest.raises(RuntimeError):  # the message stays in the queue for the next run
        replay_stream(window, lambda start, end: items, fails)
    # Fewer items than the batch had records: written before the index, so not all there.
    with pytest.raises(RedriveRefused):
        replay_stream(window, lambda start, end: items[:249], invoke)
    assert len(answers) == 3  # nothing was given to the function


def test_a_replay_event_stays_under_the_invocation_payload_limit():
    large = {"PK": {"S": "CUST#c"}, "SK": {"S": "LEDGER#1"}, "allocations": {"S": "x" * 400_000}}
    events = list(stream_events([large] * 30))
    assert [len(event["Records"]) for event in events] == [12, 12, 6]
    assert all(len(json.dumps(event)) <= REPLAY_EVENT_BYTES for event in events)
    huge = {**large, "allocations": {"S": "x" * 6_000_000}}
    assert [len(event["Records"]) for event in stream_events([huge, large])] == [1, 1]


@pytest.mark.parametrize(
    ("queue", "body"),
    [
        (STREAM, "{}"),
        (STREAM, stream_failure(approximateArrivalOfFirstRecord=None)),
        (STREAM, stream_failure(approximateArrivalOfLastRecord="2027-03-01T07:00:00.000Z")),
        (STREAM, stream_failure(approximateArrivalOfFirstRecord="2027-03-01T08:00:00")),
        (STREAM, stream_failure(batchSize=0)),
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
    assert all(
        resources[queue]["Type"] == "AWS::SQS::Queue" for queue in (*EVENTS, SCHEDULES, STREAM)
    )
    [changes] = resources[STREAM_FUNCTION]["Properties"]["Events"].values()
    assert changes["Properties"]["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": f"{STREAM}.Arn"
    }
