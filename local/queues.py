"""The template's SQS queues delivered to their consumers, as Lambda's event source mapping
delivers them (SPEC §11).

Every `SQS` event (`Queue: !GetAtt SomeQueue.Arn`) is a mapping. It receives up to
`BatchSize` messages (default 10) from the queue in moto and hands them to its function in
the SQS event's record shape, after the mapping's `FilterCriteria` (a JSON body is matched
as JSON; a message filtered out is deleted, as Lambda deletes it). Messages of a batch that
succeeds are deleted; with `FunctionResponseTypes: [ReportBatchItemFailures]` only those the
function does not name. A failed message becomes visible again at once (in AWS, after the
queue's visibility timeout: locally nobody should wait for it) and, once received more than
the queue's `RedrivePolicy.maxReceiveCount` times, moto moves it to the dead-letter queue.
"""

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from local.event_patterns import filter_patterns, matches_any
from local.functions import Function, FunctionHost, Invocation
from local.resources import QUEUE, LocalResources

DEFAULT_BATCH_SIZE = 10
RECEIVE_LIMIT = 10  # SQS's most per ReceiveMessage


@dataclass(frozen=True)
class QueueMapping:
    """One `SQS` event source of a function."""

    function: Function
    name: str
    queue: str  # the queue's logical id
    batch_size: int
    report_item_failures: bool
    filters: list[dict[str, Any]] = field(compare=False)

    @property
    def key(self) -> str:
        return f"{self.function.name}.{self.name}"


def _queue_id(resources: LocalResources, queue: Any) -> str | None:
    """The logical id of the template's queue that `Queue` names (!GetAtt Q.Arn)."""
    if isinstance(queue, dict) and "Fn::GetAtt" in queue:
        target = queue["Fn::GetAtt"]
        name = target.split(".", 1)[0] if isinstance(target, str) else target[0]
        if (resources.resources.get(name) or {}).get("Type") == QUEUE:
            return str(name)
    return None


def discover_queue_mappings(
    functions: Mapping[str, Function], resources: LocalResources
) -> list[QueueMapping]:
    """The `SQS` events on the template's queues (enabled ones)."""
    mappings = []
    for function in functions.values():
        for event in function.events_of("SQS"):
            properties = event.properties
            queue = _queue_id(resources, properties.get("Queue"))
            if queue is None:
                raise ValueError(
                    f"template.yaml: {function.name}.{event.name}: Queue must be "
                    "!GetAtt <a queue of the template>.Arn to run locally"
                )
            if properties.get("Enabled") is False:
                continue
            mappings.append(
                QueueMapping(
                    function=function,
                    name=event.name,
                    queue=queue,
                    batch_size=int(properties.get("BatchSize", DEFAULT_BATCH_SIZE)),
                    report_item_failures="ReportBatchItemFailures"
                    in (properties.get("FunctionResponseTypes") or []),
                    filters=filter_patterns(properties),
                )
            )
    return mappings


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


def lambda_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """A received message as Lambda delivers it in an SQS event."""
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


def _filtered_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """What Lambda's filter sees: the record, its body parsed when it is JSON."""
    try:
        body = json.loads(record["body"])
    except ValueError:
        return dict(record)
    return {**record, "body": body}


@dataclass
class QueueProgress:
    """What a pass did: messages succeeded, failed (visible again) and filtered out."""

    succeeded: int = 0
    failed: int = 0
    filtered: int = 0
    batches: int = 0

    def add(self, other: "QueueProgress") -> None:
        self.succeeded += other.succeeded
        self.failed += other.failed
        self.filtered += other.filtered
        self.batches += other.batches


class QueueConsumer:
    """One mapping polling its queue; `poll()` runs the batches there are now."""

    def __init__(
        self, mapping: QueueMapping, runner: FunctionHost, resources: LocalResources, sqs: Any
    ) -> None:
        self.mapping = mapping
        self.runner = runner
        self.sqs = sqs
        self.url = resources.queue_urls[mapping.queue]
        self.arn = resources.queue_arns[mapping.queue]
        self.region = resources.region

    def outstanding(self) -> int:
        """Messages in the queue, visible or in flight."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while len(messages) < self.mapping.batch_size:
            received = self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=min(RECEIVE_LIMIT, self.mapping.batch_size - len(messages)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not received:
                break
            messages.extend(received)
        return messages

    def poll(self) -> QueueProgress:
        """Run batches until the queue has no visible message; then make the messages that
        failed visible again, for the next pass (and moto's redrive count)."""
        progress = QueueProgress()
        failed: list[dict[str, Any]] = []
        try:
            while True:
                messages = self._receive()
                if not messages:
                    return progress
                records = [lambda_record(message, self.arn, self.region) for message in messages]
                chosen = []
                for record in records:
                    if matches_any(self.mapping.filters, _filtered_view(record)):
                        chosen.append(record)
                    else:
                        self._delete(record)
                        progress.filtered += 1
                if not chosen:
                    continue
                progress.batches += 1
                invocation = self.runner.invoke(
                    self.mapping.function, {"Records": chosen}, what=f"queue ({self.mapping.name})"
                )
                failed_ids = self._failed_ids(invocation, chosen)
                for record in chosen:
                    if record["messageId"] in failed_ids:
                        failed.append(record)
                    else:
                        self._delete(record)
                progress.failed += len(failed_ids)
                progress.succeeded += len(chosen) - len(failed_ids)
        finally:
            for record in failed:
                self.sqs.change_message_visibility(
                    QueueUrl=self.url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
                )

    def _delete(self, record: Mapping[str, Any]) -> None:
        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=record["receiptHandle"])

    def _failed_ids(self, invocation: Invocation, records: list[dict[str, Any]]) -> set[str]:
        """The messages that failed: all when the function raised or its report is not
        valid (Lambda's rule), those it names with ReportBatchItemFailures, else none."""
        every = {str(record["messageId"]) for record in records}
        if not invocation.succeeded:
            return every
        result = invocation.result
        if not self.mapping.report_item_failures or result is None:
            return set()
        if not isinstance(result, dict):
            return every
        failures = result.get("batchItemFailures")
        if failures is None:
            return set()
        if not isinstance(failures, list):
            return every
        named: set[str] = set()
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not identifier or str(identifier) not in every:
                return every
            named.add(str(identifier))
        return named
