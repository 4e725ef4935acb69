"""Sending to the world outside the table: the points bus (EventBridge), the notifications
queue (SQS), e-mail (SES v2), SMS and the ops topic (SNS).

Clients are made on first use by the runtime's factory (the composition root), so a
function makes only those it uses. Every method raises when AWS did not take the message,
so the caller's record or message is retried.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from crm_points.alerts import Alert
from crm_points.notification_templates import Notification

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

    from crm_points.stream_reactions import OutgoingEvent

# The source of every event this system puts on the points bus (SPEC §5).
EVENT_SOURCE = "crm.points"
# The most entries one PutEvents, and one SendMessageBatch, takes.
PUT_EVENTS_ENTRIES = 10
SEND_MESSAGE_BATCH_ENTRIES = 10


@dataclass(frozen=True)
class Destinations:
    """Where this deployment sends things (crm_points.settings, checked at cold start)."""

    event_bus_name: str
    notifications_queue_url: str
    ops_topic_arn: str


class Messaging:
    """The outside world as the stream consumer and the notification sender see it."""

    def __init__(self, destinations: Destinations, client: Callable[[str], Any]) -> None:
        self.destinations = destinations
        self._client = client

    @cached_property
    def events(self) -> Any:
        return self._client("events")

    @cached_property
    def sqs(self) -> "SQSClient":
        return self._client("sqs")  # type: ignore[no-any-return]

    @cached_property
    def sns(self) -> Any:
        return self._client("sns")

    @cached_property
    def ses(self) -> Any:
        return self._client("sesv2")

    def put_events(self, events: Sequence["OutgoingEvent"]) -> list[bool]:
        """Events on the points bus, `source: crm.points`, ten to a PutEvents request (its
        limit); for each, whether the bus took it."""
        taken: list[bool] = []
        for start in range(0, len(events), PUT_EVENTS_ENTRIES):
            chunk = events[start : start + PUT_EVENTS_ENTRIES]
            response = self.events.put_events(
                Entries=[
                    {
                        "EventBusName": self.destinations.event_bus_name,
                        "Source": EVENT_SOURCE,
                        "DetailType": event.detail_type,
                        "Detail": json.dumps(event.detail, separators=(",", ":")),
                        "Time": event.time,
                    }
                    for event in chunk
                ]
            )
            taken.extend("ErrorCode" not in entry for entry in response["Entries"])
        return taken

    def queue_notifications(self, found: Sequence[Notification]) -> list[bool]:
        """Hand notifications to the sender through its queue (retries, dead letters), ten to
        a SendMessageBatch request (its limit); for each, whether the queue took it."""
        taken: list[bool] = []
        for start in range(0, len(found), SEND_MESSAGE_BATCH_ENTRIES):
            chunk = found[start : start + SEND_MESSAGE_BATCH_ENTRIES]
            response = self.sqs.send_message_batch(
                QueueUrl=self.destinations.notifications_queue_url,
                Entries=[
                    {"Id": str(number), "MessageBody": notification.model_dump_json(by_alias=True)}
                    for number, notification in enumerate(chunk)
                ],
            )
            refused = {int(failure["Id"]) for failure in response.get("Failed", [])}
            taken.extend(number not in refused for number in range(len(chunk)))
        return taken

    def page_ops(self, alert: Alert, topic_arn: str | None = None) -> None:
        """Tell the admins at once (the ops topic): NEGATIVE_BALANCE (SPEC §7)."""
        subject = f"[{alert.priority.value}] {alert.type.value}"
        if alert.customer_id:
            subject += f": customer {alert.customer_id}"
        self.sns.publish(
            TopicArn=topic_arn or self.destinations.ops_topic_arn,
            Subject=subject[:100],
            Message=json.dumps(alert.model_dump(mode="json", by_alias=True), indent=2),
        )

    def send(self, notification: Notification, sender: str) -> None:
        """Send one notification: e-mail through SES v2, SMS through SNS."""
        if notification.channel == "email":
            self.ses.send_email(
                FromEmailAddress=sender,
                Destination={"ToAddresses": [notification.to]},
                Content={
                    "Simple": {
                        "Subject": {"Data": notification.subject or "", "Charset": "UTF-8"},
                        "Body": {"Text": {"Data": notification.body, "Charset": "UTF-8"}},
                    }
                },
            )
        else:
            self.sns.publish(
                PhoneNumber=notification.to,
                Message=notification.body,
                MessageAttributes={
                    "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
                },
            )
