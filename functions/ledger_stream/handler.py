"""The ledger's change stream (DynamoDB Streams): analytics, alerts, events out, notifications.

A batch is handled as one (crm_points.reactions.Reactions.on_batch): its DynamoDB requests are
per batch, not per record. The first record whose effects are not all done is reported
(partial batch response), and Lambda delivers the batch again from it; everything a record
causes is done at most once, so a redelivery repeats nothing already done.
"""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_points.runtime import runtime

logger = Logger(service="crm-points")


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records", [])
    images = [record["dynamodb"].get("NewImage") or {} for record in records]
    try:
        failed = runtime().reactions.on_batch(images)
    except Exception:
        # Counting, or reading what was done, failed for the whole batch: all of it again.
        logger.exception("the batch failed as a whole")
        failed = 0 if records else None
    if failed is None:
        return {"batchItemFailures": []}
    return {
        "batchItemFailures": [{"itemIdentifier": records[failed]["dynamodb"]["SequenceNumber"]}]
    }
