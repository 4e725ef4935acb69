"""Data access for bulk awards: the job and row-result items, their keys and transactions,
the one-Query job page, and the queue the rows travel through.

A job's items share one partition, `BULKJOB#{jobId}`: the job (`JOB`) sorts before its row
results (`ROW#{rowNumber:05d}`), so the first page of a job is one Query. See
docs/data-model.md ("Bulk award jobs").
"""

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from crm_points import transactions
from crm_points.bulk import (
    MAX_ROWS,
    BulkJob,
    JobMissing,
    JobRecord,
    QueueUnavailable,
    ResultsContended,
    RowResult,
    RowStatus,
)
from crm_points.dynamo import decode_cursor, encode_cursor, to_item, without_keys
from crm_points.errors import Conflict, ValidationFailed
from crm_points.ledger_store import request_pk
from crm_points.records import iso_utc
from crm_points.transactions import THROTTLED, Claim, ClaimTaken, Guard

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

JOB_SK = "JOB"
ROW_PREFIX = "ROW#"
_LAST_ROW_SK = f"{ROW_PREFIX}{MAX_ROWS:05d}"


def job_pk(job_id: str) -> str:
    return f"BULKJOB#{job_id}"


def row_sk(row_number: int) -> str:
    return f"{ROW_PREFIX}{row_number:05d}"


def job_item(record: JobRecord) -> dict[str, Any]:
    """A job as stored (plain values)."""
    return {
        "PK": job_pk(record.job_id),
        "SK": JOB_SK,
        "entity": "BULK_JOB",
        **record.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def row_item(job_id: str, result: RowResult) -> dict[str, Any]:
    """A row's result as stored (DynamoDB's typed form)."""
    return to_item(
        {
            "PK": job_pk(job_id),
            "SK": row_sk(result.row_number),
            "entity": "BULK_ROW",
            **result.model_dump(mode="json", by_alias=True, exclude_none=True),
        }
    )


# A job page's cursor is a row number, the same in every job's pages: it is not bound.
ROW_CURSOR_SCOPE = None


def encode_row_cursor(after: int) -> str:
    """The cursor of a job's next page of rows: the row number it starts after."""
    return encode_cursor({"after": after}, ROW_CURSOR_SCOPE)


def decode_row_cursor(cursor: str) -> int:
    """The row number a cursor's page starts after; anything else is a 422."""
    after = decode_cursor(cursor, ROW_CURSOR_SCOPE).get("after")
    if not isinstance(after, int) or isinstance(after, bool) or not 1 <= after < MAX_ROWS:
        raise ValidationFailed("cursor is not valid", {"field": "cursor"})
    return after


class BulkStore:
    """The table seen by bulk awards."""

    def __init__(self, client: "DynamoDBClient", table_name: str) -> None:
        self.client = client
        self.table = table_name

    def create_job(
        self, record: JobRecord, idempotency_key: str, request_hash: str, answer: BulkJob
    ) -> BulkJob | None:
        """Write the job and the request's idempotency record in one transaction. None when
        written; the earlier request's answer when the key was used before for the same
        request (IDEMPOTENCY_KEY_REUSED for another)."""
        caller = record.created_by.user_id
        claim = Claim(request_pk(caller, idempotency_key), "REQUEST", request_hash, idempotency_key)
        collision = Conflict("Bulk job id collision; try again", retryable=True)
        job = Guard(job_pk(record.job_id), JOB_SK, collision, put=job_item(record))
        try:
            transactions.commit(self.client, self.table, claim, answer, (job,))
        except ClaimTaken as taken:
            return transactions.replay_answer(claim, taken.stored, BulkJob)
        return None

    def job(self, job_id: str) -> JobRecord | None:
        response = self.client.get_item(
            TableName=self.table,
            Key=to_item({"PK": job_pk(job_id), "SK": JOB_SK}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return JobRecord.model_validate(without_keys(item)) if item else None

    def mark_enqueued(self, job_id: str, now: Any) -> None:
        """Note that every message of the job is on the queue (a replay need not send them)."""
        self.client.update_item(
            TableName=self.table,
            Key=to_item({"PK": job_pk(job_id), "SK": JOB_SK}),
            UpdateExpression="SET enqueuedAt = :now",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues=to_item({":now": iso_utc(now)}),
        )

    def recorded_rows(self, job_id: str, first: int, last: int) -> set[int]:
        """The row numbers between `first` and `last` that already have a result."""
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="PK = :pk AND SK BETWEEN :first AND :last",
            ExpressionAttributeValues=to_item(
                {":pk": job_pk(job_id), ":first": row_sk(first), ":last": row_sk(last)}
            ),
            ProjectionExpression="rowNumber",
            ConsistentRead=True,
        )
        return {int(item["rowNumber"]["N"]) for item in response.get("Items", [])}

    def record_results(
        self, job_id: str, results: Sequence[RowResult], now: Any
    ) -> set[int] | None:
        """Put the results and count them in the job, in one transaction, each result only
        if it is not there yet. None when written; else the row numbers already recorded
        (nothing was written). Raises ResultsContended when DynamoDB refused the transaction
        for a concurrent one, JobMissing when the job does not exist."""
        succeeded = sum(1 for result in results if result.status is RowStatus.AWARDED)
        items: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": row_item(job_id, result),
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            }
            for result in results
        ]
        items.append(
            {
                "Update": {
                    "TableName": self.table,
                    "Key": to_item({"PK": job_pk(job_id), "SK": JOB_SK}),
                    "UpdateExpression": "SET updatedAt = :now "
                    "ADD succeeded :succeeded, failed :failed",
                    "ConditionExpression": "attribute_exists(PK)",
                    "ExpressionAttributeValues": to_item(
                        {
                            ":now": iso_utc(now),
                            ":succeeded": succeeded,
                            ":failed": len(results) - succeeded,
                        }
                    ),
                }
            }
        )
        try:
            self.client.transact_write_items(TransactItems=items)
        except self.client.exceptions.TransactionCanceledException as cancelled:
            codes = [
                reason.get("Code", "None")
                for reason in cancelled.response.get("CancellationReasons", [])
            ]
            if codes and codes[-1] == "ConditionalCheckFailed":
                raise JobMissing(job_id) from cancelled
            taken = {
                result.row_number
                for result, code in zip(results, codes, strict=False)
                if code == "ConditionalCheckFailed"
            }
            if taken:
                return taken
            raise ResultsContended(",".join(codes)) from cancelled
        return None

    def read_page(
        self, job_id: str, limit: int, cursor: str | None
    ) -> tuple[JobRecord | None, list[RowResult], str | None]:
        """The job (first page only) and up to `limit` row results after the cursor's row, in
        one Query: `JOB` sorts just before the first `ROW#`."""
        if cursor is None:
            first, fetch = JOB_SK, limit + 2
        else:
            first, fetch = row_sk(decode_row_cursor(cursor) + 1), limit + 1
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="PK = :pk AND SK BETWEEN :first AND :last",
            ExpressionAttributeValues=to_item(
                {":pk": job_pk(job_id), ":first": first, ":last": _LAST_ROW_SK}
            ),
            ConsistentRead=True,
            Limit=fetch,
        )
        record = None
        rows: list[RowResult] = []
        for item in response.get("Items", []):
            if item["SK"]["S"] == JOB_SK:
                record = JobRecord.model_validate(without_keys(item))
            else:
                rows.append(RowResult.model_validate(without_keys(item)))
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = encode_row_cursor(rows[-1].row_number)
        return record, rows, next_cursor


# -- the queue ------------------------------------------------------------------------------

# SendMessageBatch takes at most 10 messages and 256 KiB in all.
_BATCH_MESSAGES = 10
_BATCH_BYTES = 256 * 1024
_SEND_ATTEMPTS = 4


def batches(bodies: Sequence[str]) -> list[list[str]]:
    """The bodies in SendMessageBatch-sized groups, in order."""
    groups: list[list[str]] = []
    size = 0
    for body in bodies:
        length = len(body.encode())
        if not groups or len(groups[-1]) == _BATCH_MESSAGES or size + length > _BATCH_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(body)
        size += length
    return groups


class SqsRowQueue:
    """The bulk-award queue (SQS): messages sent ten at a time; entries SQS did not take are
    sent again, a bounded number of times."""

    def __init__(
        self, client: Any, queue_url: str, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.client = client
        self.queue_url = queue_url
        self.sleep = sleep

    def send(self, bodies: Sequence[str]) -> None:
        """Put every message on the queue, or raise QueueUnavailable."""
        for group in batches(bodies):
            self._send_batch(group)

    def _send_batch(self, group: list[str]) -> None:
        waiting = dict(enumerate(group))
        for attempt in range(_SEND_ATTEMPTS):
            THROTTLED.pause(attempt, self.sleep)
            response = self.client.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "MessageBody": body} for i, body in waiting.items()],
            )
            failed = response.get("Failed", [])
            if any(entry.get("SenderFault") for entry in failed):
                raise QueueUnavailable(f"SQS refused a message: {failed[0].get('Message')}")
            waiting = {int(entry["Id"]): waiting[int(entry["Id"])] for entry in failed}
            if not waiting:
                return
        raise QueueUnavailable(f"SQS did not take {len(waiting)} messages")
