"""`python -m deploy.redrive` against a deployed stack's services (moto standing in): a
dead-lettered booking event goes on the points bus again, notifications go back to their
queue, a daily run is invoked again; a dry run and a refused message leave the queue as it
was, and a second run finds nothing."""

import json
import uuid
from typing import Any

from deploy.redrive import AwsReplay, Invoke, redrive
from local.aws_services import AwsServices
from tests.api import ROOT

BOOKING = json.loads((ROOT / "events" / "booking_completed.json").read_text())


class Recorder:
    """Lambda's Invoke, recorded (moto would need a container to run a function)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **arguments: Any) -> dict[str, Any]:
        self.calls.append(arguments)
        return {"StatusCode": 202}


def queue(sqs: Any, name: str) -> str:
    return str(sqs.create_queue(QueueName=name)["QueueUrl"])


def bodies(sqs: Any, url: str) -> list[str]:
    found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [message["Body"] for message in found.get("Messages", [])]


def test_a_deployed_stacks_dead_letters_are_replayed_once(aws_services: AwsServices) -> None:
    prefix = f"r{uuid.uuid4().hex[:6]}-"
    sqs, events = aws_services.client("sqs"), aws_services.client("events")
    bus = events.create_event_bus(Name=f"{prefix}points")["EventBusArn"].rpartition("/")[2]
    delivered = queue(sqs, f"{prefix}delivered")
    arn = sqs.get_queue_attributes(QueueUrl=delivered, AttributeNames=["QueueArn"])
    events.put_rule(
        Name=f"{prefix}bookings", EventBusName=bus, EventPattern='{"source": ["bookings"]}'
    )
    events.put_targets(
        Rule=f"{prefix}bookings",
        EventBusName=bus,
        Targets=[{"Id": "q", "Arn": arn["Attributes"]["QueueArn"]}],
    )
    physical = {
        "PointsBus": bus,
        "BookingRulesDeadLetters": queue(sqs, f"{prefix}rules-dl"),
        "NotificationsDeadLetters": queue(sqs, f"{prefix}notifications-dl"),
        "NotificationsQueue": queue(sqs, f"{prefix}notifications"),
        "ScheduleDeadLetters": queue(sqs, f"{prefix}schedules-dl"),
        "ExpirePointsFunction": f"{prefix}expire-points",
    }
    replay = AwsReplay(aws_services, physical)
    replay.functions = Recorder()

    dead = physical["BookingRulesDeadLetters"]
    sqs.send_message(QueueUrl=dead, MessageBody=json.dumps(BOOKING))
    sqs.send_message(QueueUrl=dead, MessageBody="not an event")
    shown = redrive(sqs, dead, "BookingRulesDeadLetters", replay, dry_run=True)
    assert (len(shown.done), len(shown.refused)) == (1, 1)
    assert len(bodies(sqs, dead)) == 2  # a dry run leaves the queue as it was
    assert bodies(sqs, delivered) == []

    done = redrive(sqs, dead, "BookingRulesDeadLetters", replay, dry_run=False)
    assert (len(done.done), len(done.refused)) == (1, 1)
    [event] = [json.loads(body) for body in bodies(sqs, delivered)]
    assert (event["detail-type"], event["detail"]) == ("Booking Completed", BOOKING["detail"])
    assert bodies(sqs, dead) == ["not an event"]  # left for a person, with its reason
    assert redrive(sqs, dead, "BookingRulesDeadLetters", replay, dry_run=False).done == []

    notifications = physical["NotificationsDeadLetters"]
    sqs.send_message(QueueUrl=notifications, MessageBody='{"notificationId": "n-1"}')
    redrive(sqs, notifications, "NotificationsDeadLetters", replay, dry_run=False)
    assert bodies(sqs, physical["NotificationsQueue"]) == ['{"notificationId": "n-1"}']
    assert bodies(sqs, notifications) == []

    run = {"schedule": "expire-points", "time": "2027-03-01T22:30:00Z", "executionId": "e-1"}
    schedules = physical["ScheduleDeadLetters"]
    sqs.send_message(QueueUrl=schedules, MessageBody=json.dumps({"requestPayload": run}))
    outcome = redrive(sqs, schedules, "ScheduleDeadLetters", replay, dry_run=False)
    assert outcome.done == [Invoke("ExpirePointsFunction", run)]
    [call] = replay.functions.calls
    assert (call["FunctionName"], call["InvocationType"]) == (f"{prefix}expire-points", "Event")
    assert json.loads(call["Payload"]) == run
