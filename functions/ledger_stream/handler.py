"""The ledger's change stream (DynamoDB Streams): analytics, alerts, events out, notifications.

A batch is handled as one (crm_points.stream_reactions.Reactions.on_batch): its DynamoDB
requests are per batch, not per record. The first record whose effects are not all done is reported
(partial batch response), and Lambda delivers the batch again from it; everything a record
causes is done at most once, so a redelivery repeats nothing already done.
"""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points import handlers, metrics
from crm_points.logs import logger
from crm_points.runtime import runtime


@handlers.batch
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records", [])
    # The batch is known by its first record, the one Lambda would deliver it again from.
    if records:
        logger.set_correlation_id(_sequence_number(records[0]))
    images = [record["dynamodb"].get("NewImage") or {} for record in records]
    try:
        failed = runtime().reactions.on_batch(images)
    except Exception:
        # Counting, or reading what was done, failed for the whole batch: all of it again.
        logger.exception("the batch failed as a whole")
        failed = 0 if records else None
    if failed is None:
        return {"batchItemFailures": []}
    sequence_number = _sequence_number(records[failed])
    logger.set_correlation_id(sequence_number)
    logger.warning(
        "record failed; the batch comes again from it",
        extra={"position": failed, "records": len(records)},
    )
    # One a failed report: the record Lambda retries from (and, in the end, dead-letters).
    metrics.count(metrics.STREAM_RECORDS_FAILED)
    return {"batchItemFailures": [{"itemIdentifier": sequence_number}]}


def _sequence_number(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])
