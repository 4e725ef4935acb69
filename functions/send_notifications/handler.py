"""Customer notifications from their queue (SQS): e-mail by SES v2, SMS by SNS (SPEC §8).

A message that fails is reported alone (partial batch response): SQS retries it, then moves
it to the dead-letter queue. Each notification is sent at most once.
"""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import handlers, metrics
from crm_points.logs import logger
from crm_points.notification_templates import Notification
from crm_points.runtime import runtime
from crm_points.stream_reactions import deliver

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    logger.set_correlation_id(record.message_id)
    channel = "unknown"
    try:
        notification = Notification.model_validate_json(record.body)
        channel = notification.channel
        sent = deliver(
            notification,
            runtime().messaging,
            runtime().effects,
            runtime().service.admin,
            runtime().service.config.sender_email,
            datetime.now(UTC),
        )
    except Exception:
        # Counted on every failed attempt: the queue retries the message, and after five
        # receives moves it to NotificationsDeadLetters, whose alarm is the one to act on.
        metrics.notification_failed(channel)
        logger.exception("notification failed", extra={"channel": channel})
        raise
    if sent:
        metrics.notification_sent(channel)
    logger.info(
        "notification sent" if sent else "notification not sent: sent before, or withheld",
        extra={"notificationId": notification.notification_id, "channel": channel},
    )


@handlers.batch
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
