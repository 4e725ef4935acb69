"""The events the local stack hands the functions (local/lambda_events.py) are those AWS
sends: events/*.json are AWS's shapes; Lambda's on-failure records are what deploy.redrive
reads; a partial batch response is read as Lambda reads it."""

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from deploy.redrive import STREAM, PutEvent, ReplayStream, plan
from local.lambda_events import (
    async_invocation_failure,
    dynamodb_stream_record,
    eventbridge_event,
    reported_failures,
    sqs_record,
    stream_batch_failure,
)
from tests.api import ROOT

ARRIVED = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
STREAM_ARN = "arn:aws:dynamodb:af-south-1:123456789012:table/t/stream/2027-03-01T00:00:00.000"


def sample(name: str) -> Any:
    return json.loads((ROOT / "events" / name).read_text())


def test_an_sqs_record_is_the_samples_shape():
    [expected] = sample("bulk_award_message.json")["Records"]
    received = {  # the message as ReceiveMessage answers it
        "MessageId": expected["messageId"],
        "ReceiptHandle": expected["receiptHandle"],
        "Body": expected["body"],
        "Attributes": expected["attributes"],
        "MD5OfBody": expected["md5OfBody"],
    }
    assert sqs_record(received, expected["eventSourceARN"], expected["awsRegion"]) == expected


def test_an_sqs_records_message_attributes_are_camel_case_and_binary_is_base64():
    received = {
        "MessageId": "m-1",
        "ReceiptHandle": "h",
        "Body": "{}",
        "MD5OfBody": "x",
        "MD5OfMessageAttributes": "y",
        "MessageAttributes": {
            "kind": {"DataType": "String", "StringValue": "work"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    }
    record = sqs_record(received, "arn:aws:sqs:af-south-1:123456789012:q", "af-south-1")
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "work",
        "binaryValue": None,
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert record["messageAttributes"]["blob"]["binaryValue"] == "AAE="
    assert record["md5OfMessageAttributes"] == "y"


def test_an_eventbridge_event_is_the_samples_shape():
    expected = sample("booking_completed.json")
    event = eventbridge_event(
        expected["source"],
        expected["detail-type"],
        expected["detail"],
        expected["region"],
        time=datetime(2026, 11, 20, 14, 31, 5, 250_000, tzinfo=timezone(timedelta(hours=2))),
        event_id=expected["id"],
    )
    assert event == expected
    assert eventbridge_event("s", "t", {}, "af-south-1", time="as written")["time"] == "as written"


def test_a_stream_record_has_epoch_seconds_and_base64_binary():
    created = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
    record = dynamodb_stream_record(
        {
            "eventID": "e-1",
            "eventName": "INSERT",
            "dynamodb": {
                "ApproximateCreationDateTime": created,
                "Keys": {"PK": {"S": "p"}},
                "NewImage": {"PK": {"S": "p"}, "raw": {"B": b"\x00\x01"}, "n": {"N": "1"}},
                "SequenceNumber": "100",
                "SizeBytes": 10,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
        },
        STREAM_ARN,
        "af-south-1",
    )
    assert record == {
        "eventID": "e-1",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "af-south-1",
        "dynamodb": {
            "ApproximateCreationDateTime": created.timestamp(),
            "Keys": {"PK": {"S": "p"}},
            "NewImage": {"PK": {"S": "p"}, "raw": {"B": "AAE="}, "n": {"N": "1"}},
            "SequenceNumber": "100",
            "SizeBytes": 10,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": STREAM_ARN,
    }


def test_the_on_failure_records_are_what_the_redrive_reads():
    booking = sample("booking_completed.json")
    failed = async_invocation_failure(
        "arn:aws:lambda:af-south-1:123456789012:function:f",
        "request-1",
        3,
        booking,
        {"errorType": "InsufficientPoints", "errorMessage": "..."},
        now=ARRIVED,
    )
    assert failed["requestContext"]["functionArn"].endswith(":function:f:$LATEST")
    assert failed["timestamp"] == "2027-03-01T08:00:00.000+00:00"
    action = plan("BookingEventsDeadLetters", json.dumps(failed))
    assert action == PutEvent(
        "bookings", "Booking Completed", json.dumps(booking["detail"], separators=(",", ":"))
    )
    records = [
        dynamodb_stream_record(
            {
                "eventID": str(n),
                "eventName": "INSERT",
                "dynamodb": {
                    "ApproximateCreationDateTime": ARRIVED + timedelta(seconds=n),
                    "SequenceNumber": str(100 + n),
                },
            },
            STREAM_ARN,
            "af-south-1",
        )
        for n in range(3)
    ]
    batch = stream_batch_failure("arn:f", 4, "shard-1", records, STREAM_ARN, now=ARRIVED)
    info = batch["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        "100",
        "102",
        3,
    )
    assert batch["requestContext"]["condition"] == "RetryAttemptsExhausted"
    margin = timedelta(minutes=5)
    assert plan(STREAM, json.dumps(batch)) == ReplayStream(
        ARRIVED - margin, ARRIVED + timedelta(seconds=2) + margin, records=3
    )


IDS = ["100", "200", "300"]


@pytest.mark.parametrize(
    ("answer", "failed"),
    [
        (None, []),
        ({}, []),
        ({"batchItemFailures": []}, []),
        ({"batchItemFailures": [{"itemIdentifier": "300"}, {"itemIdentifier": "200"}]}, IDS[1:]),
        ({"batchItemFailures": [{"itemIdentifier": "999"}]}, IDS),  # not of the batch
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, IDS),
        ({"batchItemFailures": [{}]}, IDS),
        ({"batchItemFailures": ["200"]}, IDS),
        ({"batchItemFailures": "200"}, IDS),
        ("ok", IDS),  # not a report at all
    ],
)
def test_a_partial_batch_response_is_read_as_lambda_reads_it(answer, failed):
    assert reported_failures(answer, IDS) == failed
