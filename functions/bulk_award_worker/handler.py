"""The bulk-award queue's consumer: awards the rows of each message (SQS, partial batch).

A message whose work stops on a failure fails alone (ReportBatchItemFailures): SQS delivers
it again, and after the queue's maxReceiveCount moves it to the dead-letter queue. Rows the
ledger refuses are not failures of the message: they are recorded as failed rows.
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
from crm_points.bulk import RowStatus
from crm_points.logs import logger
from crm_points.runtime import runtime

processor = BatchProcessor(event_type=EventType.SQS)


def award_rows(record: SQSRecord) -> None:
    """One message: its rows awarded (or failed) and counted in their job."""
    logger.set_correlation_id(record.message_id)
    results = runtime().bulk_awards().process(record.body, datetime.now(UTC))
    awarded = sum(1 for result in results if result.status is RowStatus.AWARDED)
    # Rows recorded by this delivery only: a message delivered again skips (and so does not
    # count again) the rows an earlier delivery recorded.
    metrics.count(metrics.BULK_ROWS_AWARDED, awarded)
    metrics.count(metrics.BULK_ROWS_FAILED, len(results) - awarded)
    logger.debug("Rows processed", extra={"rows": len(results), "awarded": awarded})


@handlers.batch
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=award_rows, processor=processor, context=context
    )
