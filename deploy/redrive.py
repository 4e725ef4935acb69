"""What to do with each message of a dead-letter queue, so that it is replayed through the
same idempotent path that failed (docs/operations.md, "When something keeps failing").

Pure: a message in, an action out. Carrying the action out (PutEvents, a function's
invocation, SendMessage, then deleting the message) is the caller's, in AWS or on the
local stack, and running it twice changes nothing: every booking event, daily run,
notification and bulk row is idempotent.

- `BookingEventsDeadLetters`: Lambda's on-failure record; the original event
  (`requestPayload`) goes on the points bus again.
- `BookingRulesDeadLetters`: the event itself (EventBridge's dead letter); on the bus again.
- `ScheduleDeadLetters`: Lambda's on-failure record, or the Scheduler's own dead letter (the
  run's input itself); the daily run is invoked again with its recorded input (its `time`).
- `NotificationsDeadLetters`, `BulkAwardDeadLetters`, `ExportDeadLetters`: the message goes
  back to its queue.
- `StreamDeadLetters`: Lambda's on-failure record names where in the stream a batch failed
  and when its records arrived, not the records, which the stream drops after 24 hours.
  The entries, reminders and alerts written in that window (with a margin) are read from
  the table's written index and given to the stream function again as the INSERT records
  they were (`ReplayStream`): entries and reminders are immutable and hold everything the
  records held (an alert comes as it is now, its effects keyed by its id), and the function
  does each effect once (counted markers, done-marks, alert triggers). A window holding
  fewer items than the batch had records is refused and left in the queue.
"""

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.config import Config

import local.paths  # noqa: F401  (puts crm_points on the path, as the layer does in AWS)
from crm_points.ledger_store import LedgerStore

# Which function runs each daily schedule (template.yaml, the ScheduleV2 events' Input).
SCHEDULE_FUNCTIONS = {
    "expire-points": "ExpirePointsFunction",
    "expiring-reminders": "ExpiringRemindersFunction",
    "system-alerts": "SystemAlertsFunction",
    "reconcile-ledger": "ReconcileLedgerFunction",
}
# A queue's dead letters and the queue they are moved back to.
MOVED_BACK = {
    "NotificationsDeadLetters": "NotificationsQueue",
    "BulkAwardDeadLetters": "BulkAwardQueue",
    "ExportDeadLetters": "ExportQueue",
}
EVENTS = ("BookingEventsDeadLetters", "BookingRulesDeadLetters")
SCHEDULES = "ScheduleDeadLetters"
STREAM = "StreamDeadLetters"
STREAM_FUNCTION = "LedgerStreamFunction"
# An item's `writtenAt` is stamped by the function just before its transaction, a record's
# arrival by DynamoDB (to the second): minutes apart at the very most. What the margin takes
# in beyond the batch is harmless, since the function skips every effect already done.
REPLAY_MARGIN = timedelta(minutes=5)
# Records per replayed invocation, as the stream mapping's BatchSize, and at most this much
# JSON: a synchronous invocation's payload is limited to 6 MB, and one entry drawing on
# thousands of lots is a few hundred KB.
REPLAY_BATCH = 100
REPLAY_EVENT_BYTES = 5_000_000


# Every dead-letter queue this command replays.
QUEUES = frozenset({*EVENTS, SCHEDULES, STREAM, *MOVED_BACK})


class RedriveRefused(Exception):
    """A message this command cannot replay: it stays in its queue, and the reason says why."""


@dataclass(frozen=True)
class PutEvent:
    """Put an event on the points bus again: its source, detail-type and detail."""

    source: str
    detail_type: str
    detail: str  # JSON text, as PutEvents takes it

    def entry(self, bus_name: str) -> dict[str, str]:
        """The PutEvents entry."""
        return {
            "EventBusName": bus_name,
            "Source": self.source,
            "DetailType": self.detail_type,
            "Detail": self.detail,
        }


@dataclass(frozen=True)
class Invoke:
    """Invoke a function (its logical id in template.yaml) with a payload."""

    function: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class MoveBack:
    """Send the message's body to a queue (its logical id) again."""

    queue: str
    body: str


@dataclass(frozen=True)
class ReplayStream:
    """Give the stream function again, as INSERT records, every entry, reminder and alert
    written from `start` to `end`: at least the `records` the failed batch held."""

    start: datetime
    end: datetime
    records: int


Action = PutEvent | Invoke | MoveBack | ReplayStream


def plan(queue: str, body: str) -> Action:
    """What redriving one message of the dead-letter queue `queue` (a logical id of
    template.yaml) does; RedriveRefused for a message it cannot replay."""
    if queue in MOVED_BACK:
        return MoveBack(MOVED_BACK[queue], body)
    if queue not in (*EVENTS, SCHEDULES, STREAM):
        raise RedriveRefused(f"{queue} is not a dead-letter queue this command replays")
    message = _json_object(body)
    if queue == STREAM:
        return _stream_window(message)
    # Lambda's on-failure record wraps what the function was given.
    original = message.get("requestPayload", message)
    if not isinstance(original, dict):
        raise RedriveRefused("the message's requestPayload is not a JSON object")
    if queue == SCHEDULES:
        return _schedule_run(original)
    return _booking_event(original)


def _json_object(body: str) -> dict[str, Any]:
    try:
        message = json.loads(body)
    except ValueError:
        raise RedriveRefused("the message is not JSON") from None
    if not isinstance(message, dict):
        raise RedriveRefused("the message is not a JSON object")
    return message


def _booking_event(event: dict[str, Any]) -> PutEvent:
    source, detail_type, detail = event.get("source"), event.get("detail-type"), event.get("detail")
    if source != "bookings" or not isinstance(detail_type, str) or not isinstance(detail, dict):
        raise RedriveRefused("the message is not a booking event (source bookings, a detail)")
    return PutEvent(source, detail_type, json.dumps(detail, separators=(",", ":")))


def _schedule_run(run: dict[str, Any]) -> Invoke:
    function = SCHEDULE_FUNCTIONS.get(str(run.get("schedule")))
    if function is None or not isinstance(run.get("time"), str):
        raise RedriveRefused("the message is not a daily run's input (schedule, time)")
    return Invoke(function, run)


def _stream_window(message: dict[str, Any]) -> ReplayStream:
    info = message.get("DDBStreamBatchInfo")
    if not isinstance(info, dict):
        raise RedriveRefused("the message is not a stream batch's failure (DDBStreamBatchInfo)")
    try:
        first = datetime.fromisoformat(info["approximateArrivalOfFirstRecord"])
        last = datetime.fromisoformat(info["approximateArrivalOfLastRecord"])
    except (KeyError, TypeError, ValueError):
        raise RedriveRefused("the failure record does not say when its records arrived") from None
    if first.tzinfo is None or last.tzinfo is None or last < first:
        raise RedriveRefused("the failure record's arrival times are not a window")
    records = info.get("batchSize")
    if not isinstance(records, int) or records < 1:
        raise RedriveRefused("the failure record does not say how many records failed")
    return ReplayStream(first - REPLAY_MARGIN, last + REPLAY_MARGIN, records)


def stream_events(items: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The stream function's events for `items` (typed, as stored): INSERT records, as
    the stream would deliver them, REPLAY_BATCH to an event and at most REPLAY_EVENT_BYTES
    of JSON (an item larger than that alone goes alone)."""
    records: list[dict[str, Any]] = []
    size = 0
    for number, item in enumerate(items, 1):
        record = {
            "eventID": f"replay-{number}",
            "eventName": "INSERT",
            "eventSource": "aws:dynamodb",
            "dynamodb": {
                "Keys": {"PK": item["PK"], "SK": item["SK"]},
                "NewImage": item,
                "SequenceNumber": f"{number:021d}",
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
        }
        length = len(json.dumps(record))
        if records and (len(records) == REPLAY_BATCH or size + length > REPLAY_EVENT_BYTES):
            yield {"Records": records}
            records, size = [], 0
        records.append(record)
        size += length
    if records:
        yield {"Records": records}


def replay_stream(
    action: ReplayStream,
    written_between: Callable[[datetime, datetime], list[dict[str, Any]]],
    invoke: Callable[[dict[str, Any]], Any],
) -> int:
    """Read what was written in the action's window and give it to the stream function
    (`invoke` answers what it returned); how many items went. A batch the function reports
    failed raises, so the message stays for the next run; so does a window holding fewer
    items than the batch had records (RedriveRefused): they were written before the index
    existed, and deleting the message would lose them."""
    items = written_between(action.start, action.end)
    if len(items) < action.records:
        raise RedriveRefused(
            f"the table holds {len(items)} items written from {action.start.isoformat()} to "
            f"{action.end.isoformat()}, fewer than the batch's {action.records} records "
            "(written before WrittenIndex existed?): replay them from the stream while it "
            "holds them, or heal the analytics with a rebuild"
        )
    for event in stream_events(items):
        answer = invoke(event)
        failures = answer.get("batchItemFailures") if isinstance(answer, dict) else None
        if failures:
            raise RuntimeError(f"the stream function failed the replayed records {failures}")
    return len(items)


@dataclass
class Outcome:
    """What a redrive did: the actions taken (or, in a dry run, that would be), and the
    messages left in the queue with the reason."""

    done: list[Action]
    refused: list[tuple[str, str]]  # (message id, reason)

    def summary(self) -> dict[str, Any]:
        """As the commands print it."""
        return {
            "replayed": len(self.done),
            "actions": [_shown(action) for action in self.done],
            "refused": [{"messageId": mid, "reason": why} for mid, why in self.refused],
        }


def redrive(
    sqs: Any, queue_url: str, queue: str, deliver: Callable[[Action], None], dry_run: bool
) -> Outcome:
    """Replay every message of the dead-letter queue `queue` (logical id; at `queue_url`):
    each is carried out by `deliver`, then deleted. A message that cannot be replayed, and
    every message of a dry run, is left in the queue, visible again at once. A message
    whose delivery fails stays too, and the error stops the redrive: what was replayed
    before it is done, and running the command again replays the rest."""
    outcome = Outcome([], [])
    kept: list[str] = []
    seen: set[str] = set()
    started = int(time.time() * 1000)
    try:
        while True:
            answer = sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=10,
                # Long enough for a stream window's replay; what is left is made visible
                # again at the end.
                VisibilityTimeout=900,
                AttributeNames=["SentTimestamp"],
            )
            messages = [m for m in answer.get("Messages", []) if m["MessageId"] not in seen]
            if not messages:
                return outcome
            for message in messages:
                seen.add(message["MessageId"])
                if int(message["Attributes"]["SentTimestamp"]) > started:
                    # A replay that failed again, dead-lettered anew: for the next run.
                    kept.append(message["ReceiptHandle"])
                    continue
                try:
                    action = plan(queue, message["Body"])
                except RedriveRefused as refused:
                    outcome.refused.append((message["MessageId"], str(refused)))
                    kept.append(message["ReceiptHandle"])
                    continue
                kept.append(message["ReceiptHandle"])  # until it is delivered
                if not dry_run:
                    try:
                        deliver(action)
                    except RedriveRefused as refused:
                        outcome.refused.append((message["MessageId"], str(refused)))
                        continue
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=kept.pop())
                outcome.done.append(action)
    finally:
        for handle in kept:  # left for the next run or for a person, visible again now
            sqs.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0
            )


def _shown(action: Action) -> dict[str, Any]:
    if isinstance(action, PutEvent):
        return {"putEvent": {"source": action.source, "detailType": action.detail_type}}
    if isinstance(action, Invoke):
        return {"invoke": action.function, "time": action.payload.get("time")}
    if isinstance(action, ReplayStream):
        window = {"from": action.start.isoformat(), "to": action.end.isoformat()}
        return {"replayStream": {**window, "records": action.records}}
    return {"moveBackTo": action.queue}


class AwsReplay:
    """Carries out a redrive's actions on a deployed stack: `physical` maps the template's
    logical ids (the bus, the functions, the queues) to the stack's resources."""

    def __init__(self, session: Any, physical: dict[str, str]) -> None:
        self.physical = physical
        self.events = session.client("events")
        # A replay waits for the stream function (60 s at most) and is not sent twice.
        self.functions = session.client(
            "lambda", config=Config(read_timeout=120, retries={"total_max_attempts": 1})
        )
        self.sqs = session.client("sqs")
        self.dynamodb = session.client("dynamodb")

    @classmethod
    def of_stack(cls, session: Any, stack: str) -> "AwsReplay":
        """The replay for a deployed stack, its resources read from CloudFormation."""
        pages = session.client("cloudformation").get_paginator("list_stack_resources")
        physical = {
            resource["LogicalResourceId"]: resource["PhysicalResourceId"]
            for page in pages.paginate(StackName=stack)
            for resource in page["StackResourceSummaries"]
        }
        return cls(session, physical)

    def __call__(self, action: Action) -> None:
        """PutEvents, an asynchronous invocation or SendMessage: accepted is done (a replay
        that fails again is dead-lettered anew, for the next run). A stream replay invokes
        the stream function and waits for its answer."""
        if isinstance(action, PutEvent):
            answer = self.events.put_events(Entries=[action.entry(self.physical["PointsBus"])])
            if answer.get("FailedEntryCount"):
                raise RuntimeError(f"EventBridge refused the event: {answer['Entries'][0]}")
        elif isinstance(action, Invoke):
            self.functions.invoke(
                FunctionName=self.physical[action.function],
                InvocationType="Event",
                Payload=json.dumps(action.payload).encode(),
            )
        elif isinstance(action, ReplayStream):
            ledger = LedgerStore(self.dynamodb, self.physical["PointsTable"])
            replay_stream(action, ledger.written_between, self._stream_function)
        else:
            self.sqs.send_message(QueueUrl=self.physical[action.queue], MessageBody=action.body)

    def _stream_function(self, event: dict[str, Any]) -> Any:
        answer = self.functions.invoke(
            FunctionName=self.physical[STREAM_FUNCTION],
            InvocationType="RequestResponse",
            Payload=json.dumps(event).encode(),
        )
        returned = json.loads(answer["Payload"].read() or b"null")
        if answer.get("FunctionError"):
            raise RuntimeError(f"the stream function failed: {returned}")
        return returned


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m deploy.redrive --stack crm-points-dev --queue BookingEventsDeadLetters`."""
    import argparse

    import boto3

    parser = argparse.ArgumentParser(
        prog="python -m deploy.redrive",
        description="Replay a deployed stack's dead-letter queue through its idempotent paths.",
    )
    parser.add_argument("--stack", required=True)
    parser.add_argument("--region")
    parser.add_argument("--queue", required=True, choices=sorted(QUEUES))
    parser.add_argument("--dry-run", action="store_true", help="show what it would do")
    args = parser.parse_args(argv)
    session = boto3.Session(region_name=args.region)
    replay = AwsReplay.of_stack(session, args.stack)
    outcome = redrive(
        replay.sqs, replay.physical[args.queue], args.queue, replay, dry_run=args.dry_run
    )
    print(json.dumps({"queue": args.queue, "dryRun": args.dry_run, **outcome.summary()}))
    return 1 if outcome.refused else 0


if __name__ == "__main__":
    raise SystemExit(main())
