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
- `NotificationsDeadLetters`, `BulkAwardDeadLetters`: the message goes back to its queue.
- `StreamDeadLetters` holds where in the stream a batch failed, not the records: its
  effects are re-derived from the ledger's entries, which is not a move (RedriveRefused).
"""

import json
from dataclasses import dataclass
from typing import Any

# Which function runs each daily schedule (template.yaml, the ScheduleV2 events' Input).
SCHEDULE_FUNCTIONS = {
    "expire-points": "ExpirePointsFunction",
    "expiring-reminders": "ExpiringRemindersFunction",
    "system-alerts": "SystemAlertsFunction",
}
# A queue's dead letters and the queue they are moved back to.
MOVED_BACK = {
    "NotificationsDeadLetters": "NotificationsQueue",
    "BulkAwardDeadLetters": "BulkAwardQueue",
}
EVENTS = ("BookingEventsDeadLetters", "BookingRulesDeadLetters")
SCHEDULES = "ScheduleDeadLetters"


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


Action = PutEvent | Invoke | MoveBack


def plan(queue: str, body: str) -> Action:
    """What redriving one message of the dead-letter queue `queue` (a logical id of
    template.yaml) does; RedriveRefused for a message it cannot replay."""
    if queue in MOVED_BACK:
        return MoveBack(MOVED_BACK[queue], body)
    if queue not in (*EVENTS, SCHEDULES):
        raise RedriveRefused(f"{queue} is not a dead-letter queue this command replays")
    message = _json_object(body)
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
