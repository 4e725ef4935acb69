"""The events Lambda hands a function, in the shapes AWS sends them, and what Lambda makes of
a batch function's answer: one copy for the local stack's consumers, bus and schedules, and
for the tests and benchmarks that drive the handlers by hand (events/*.json are samples).

- a DynamoDB stream record (`dynamodb_stream_record`), from a GetRecords record;
- an SQS record (`sqs_record`), from a ReceiveMessage message;
- an EventBridge event as a rule's Lambda target receives it (`eventbridge_event`);
- EventBridge Scheduler's input for a Lambda target (`scheduler_input`);
- Lambda's on-failure records, as it sends them to an SQS destination: an asynchronous
  invocation's (`async_invocation_failure`) and a stream batch's (`stream_batch_failure`);
- a partial batch response read as Lambda reads it (`reported_failures`).
"""

import base64
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from local.resources import ACCOUNT_ID

# Lambda's answer when the function raised (its `functionError`), and the version it ran.
_RESPONSE_CONTEXT = {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}


def event_time(moment: datetime | None = None) -> str:
    """A time as EventBridge and its Scheduler write it, in UTC to the second:
    2026-01-31T22:30:00Z (now when `moment` is None)."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_safe(value: Any) -> Any:
    """An attribute value as Lambda's JSON has it: binary as base64 text."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | set | tuple):
        return [_json_safe(item) for item in value]
    return value


def dynamodb_stream_record(
    record: Mapping[str, Any], stream_arn: str, region: str
) -> dict[str, Any]:
    """A GetRecords record as Lambda delivers it: creation time in epoch seconds, binary as
    base64, the region and `eventSourceARN`."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = created.timestamp()
    shaped = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": _json_safe(change),
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in record:
        shaped["userIdentity"] = record["userIdentity"]
    return shaped


def _message_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Message attributes as the SQS event has them (camelCase, binary as base64)."""
    shaped = {}
    for name, value in attributes.items():
        binary = value.get("BinaryValue")
        shaped[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": [
                base64.b64encode(item).decode() for item in value.get("BinaryListValues", [])
            ],
            "dataType": value.get("DataType"),
        }
    return shaped


def sqs_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """A received message (ReceiveMessage's shape) as Lambda delivers it in an SQS event."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": _message_attributes(message.get("MessageAttributes", {})),
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def eventbridge_event(
    source: str,
    detail_type: str,
    detail: Any,
    region: str | None,
    *,
    time: datetime | str | None = None,
    resources: Iterable[str] = (),
    event_id: str | None = None,
    account: str = ACCOUNT_ID,
    version: str = "0",
) -> dict[str, Any]:
    """The event a rule's Lambda target receives. `time` as EventBridge wrote it, or the
    moment to write (now when None); a new `event_id` when None."""
    return {
        "version": version,
        "id": event_id or str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": time if isinstance(time, str) else event_time(time),
        "region": region,
        "resources": list(resources),
        "detail": detail,
    }


def schedule_arn(region: str, group: str, name: str) -> str:
    """An EventBridge Scheduler schedule's ARN."""
    return f"arn:aws:scheduler:{region}:{ACCOUNT_ID}:schedule/{group}/{name}"


def scheduler_input(
    input_text: str | None,
    scheduled_time: datetime,
    execution_id: str,
    arn: str,
    attempt: int = 1,
) -> Any:
    """What EventBridge Scheduler sends a Lambda target: the schedule's `Input` with its
    context attributes replaced (`{}` when it has no Input)."""
    if input_text is None:
        return {}
    text = input_text
    for attribute, value in (
        ("scheduled-time", event_time(scheduled_time)),
        ("execution-id", execution_id),
        ("schedule-arn", arn),
        ("attempt-number", str(attempt)),
    ):
        text = text.replace(f"<aws.scheduler.{attribute}>", value)
    return json.loads(text)


def _request_context(
    request_id: str, function_arn: str, condition: str, attempts: int
) -> dict[str, Any]:
    return {
        "requestId": request_id,
        "functionArn": function_arn,
        "condition": condition,
        "approximateInvokeCount": attempts,
    }


def _timestamp(moment: datetime | None) -> str:
    return (moment or datetime.now(UTC)).isoformat(timespec="milliseconds")


def async_invocation_failure(
    function_arn: str,
    request_id: str,
    attempts: int,
    payload: Any,
    error: Mapping[str, Any],
    now: datetime | None = None,
) -> dict[str, Any]:
    """Lambda's on-failure record of an asynchronous invocation whose retries are
    exhausted: the event it was given (`requestPayload`) and the error it raised."""
    return {
        "version": "1.0",
        "timestamp": _timestamp(now),
        "requestContext": _request_context(
            request_id, f"{function_arn}:$LATEST", "RetriesExhausted", attempts
        ),
        "requestPayload": payload,
        "responseContext": dict(_RESPONSE_CONTEXT),
        "responsePayload": {**error, "stackTrace": []},
    }


def _iso(epoch: Any) -> str | None:
    if not isinstance(epoch, int | float):
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def stream_batch_failure(
    function_arn: str,
    attempts: int,
    shard_id: str,
    records: Sequence[Mapping[str, Any]],
    stream_arn: str | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Lambda's on-failure record of a stream batch (records in Lambda's shape) whose
    retries are exhausted: where in the stream it was and when, not the records."""
    first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
    return {
        "requestContext": _request_context("", function_arn, "RetryAttemptsExhausted", attempts),
        "responseContext": dict(_RESPONSE_CONTEXT),
        "version": "1.0",
        "timestamp": _timestamp(now),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first["SequenceNumber"],
            "endSequenceNumber": last["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso(first.get("ApproximateCreationDateTime")),
            "approximateArrivalOfLastRecord": _iso(last.get("ApproximateCreationDateTime")),
            "batchSize": len(records),
            "streamArn": stream_arn,
        },
    }


def reported_failures(answer: Any, identifiers: Sequence[str]) -> list[str]:
    """The items of a batch (their `identifiers`, in batch order: message ids or sequence
    numbers) that a function's answer reports failed, read as Lambda reads a partial batch
    response: none when it reports none (no answer, no `batchItemFailures`, an empty list);
    every item when the answer is not a valid report (not an object, `batchItemFailures`
    not a list, an entry whose `itemIdentifier` is missing, empty or not of the batch)."""
    every = [str(identifier) for identifier in identifiers]
    known = set(every)
    if answer is None:
        return []
    if not isinstance(answer, dict):
        return every
    failures = answer.get("batchItemFailures")
    if failures is None:
        return []
    if not isinstance(failures, list):
        return every
    named: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or str(identifier) not in known:
            return every
        named.add(str(identifier))
    return [identifier for identifier in every if identifier in named]
