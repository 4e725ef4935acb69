"""The balances export queue's consumer: each message is one page of one shard's accounts
(SQS, partial batch). A page that fails is delivered again, then dead-lettered; a page
recorded before is not counted again."""

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

from crm_points import handlers
from crm_points.logs import logger
from crm_points.runtime import runtime

processor = BatchProcessor(event_type=EventType.SQS)


def export_page(record: SQSRecord) -> None:
    """One page: its balances worked out and recorded in the job; the next page queued."""
    logger.set_correlation_id(record.message_id)
    runtime().balances_exports().process(record.body, datetime.now(UTC))


@handlers.batch
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=export_page, processor=processor, context=context
    )
