"""Sending to the world outside the table: the points bus (EventBridge), the notifications
queue (SQS), e-mail (SES v2), SMS and the ops topic (SNS).

Clients are made on first use (boto3 is imported then, not at import time). Every method
raises when AWS did not take the message, so the caller's record or message is retried.
"""

import json
import os
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from crm_points.alerts import Alert
from crm_points.notifications import Notification

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

# The source of every event this system puts on the points bus (SPEC §5).
EVENT_SOURCE = "crm.points"


class MessagingSettings(BaseModel):
    """Where this deployment sends things, from the environment the template gives."""

    model_config = ConfigDict(frozen=True)

    event_bus_name: str = Field(min_length=1)
    notifications_queue_url: str = Field(min_length=1)
    ops_topic_arn: str = Field(min_length=1)

    @classmethod
    def from_environment(cls) -> "MessagingSettings":
        """Validated at cold start: a missing variable fails loudly, before any record."""
        return cls(
            event_bus_name=os.environ.get("EVENT_BUS_NAME", ""),
            notifications_queue_url=os.environ.get("NOTIFICATIONS_QUEUE_URL", ""),
            ops_topic_arn=os.environ.get("OPS_TOPIC_ARN", ""),
        )


class DeliveryFailed(Exception):
    """AWS answered, but did not take the message."""


def _client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=2)
    return boto3.client(service, config=config)  # type: ignore[call-overload]


class Messaging:
    """The outside world as the stream consumer and the notification sender see it."""

    def __init__(self, settings: MessagingSettings) -> None:
        self.settings = settings

    @cached_property
    def events(self) -> Any:
        return _client("events")

    @cached_property
    def sqs(self) -> "SQSClient":
        return _client("sqs")  # type: ignore[no-any-return]

    @cached_property
    def sns(self) -> Any:
        return _client("sns")

    @cached_property
    def ses(self) -> Any:
        return _client("sesv2")

    def put_event(self, detail_type: str, detail: dict[str, Any], time: datetime) -> None:
        """One event on the points bus, `source: crm.points`."""
        response = self.events.put_events(
            Entries=[
                {
                    "EventBusName": self.settings.event_bus_name,
                    "Source": EVENT_SOURCE,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail, separators=(",", ":")),
                    "Time": time,
                }
            ]
        )
        if response.get("FailedEntryCount", 0):
            raise DeliveryFailed(f"the bus refused the event: {response['Entries']}")

    def queue_notification(self, notification: Notification) -> None:
        """Hand a notification to the sender, through its queue (retries, dead letters)."""
        self.sqs.send_message(
            QueueUrl=self.settings.notifications_queue_url,
            MessageBody=notification.model_dump_json(by_alias=True),
        )

    def page_ops(self, alert: Alert, topic_arn: str | None = None) -> None:
        """Tell the admins at once (the ops topic): NEGATIVE_BALANCE (SPEC §7)."""
        subject = f"[{alert.priority.value}] {alert.type.value}"
        if alert.customer_id:
            subject += f": customer {alert.customer_id}"
        self.sns.publish(
            TopicArn=topic_arn or self.settings.ops_topic_arn,
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
