"""The ledger's change stream (DynamoDB Streams): analytics, alerts, events out, notifications.

Records are handled one by one; a record that fails is reported alone (partial batch
response), and Lambda retries from it. Everything a record causes is done at most once
(see crm_points.reactions), so a retried batch repeats nothing already done.
"""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points.runtime import runtime

logger = Logger(service="crm-points")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> None:
    image = record.raw_event["dynamodb"].get("NewImage")
    if image:
        runtime().reactions.on_new_item(image)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
