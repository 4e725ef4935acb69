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
The record shape, and the reading of a partial batch response, are local/lambda_events.py's.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from local.event_patterns import filter_patterns, matches_any
from local.functions import Function, FunctionHost, Invocation
from local.lambda_events import reported_failures, sqs_record
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


def _filtered_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """What Lambda's filter sees: the record, its body parsed when it is JSON."""
    try:
        body = json.loads(record["body"])
    except ValueError:
        return dict(record)
    return {**record, "body": body}


def messages_outstanding(sqs: Any, url: str) -> int:
    """Messages in the queue at `url`, visible or in flight."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


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
        return messages_outstanding(self.sqs, self.url)

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
                records = [sqs_record(message, self.arn, self.region) for message in messages]
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
        """The messages that failed: all when the function raised, those its partial batch
        response names with ReportBatchItemFailures (all when it is not a valid one, as
        Lambda treats it), else none."""
        every = [str(record["messageId"]) for record in records]
        if not invocation.succeeded:
            return set(every)
        if not self.mapping.report_item_failures:
            return set()
        return set(reported_failures(invocation.result, every))
