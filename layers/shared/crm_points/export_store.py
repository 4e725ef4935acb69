"""Data access for finance's balances export (crm_points.balances_export): the job, the
pages of rows it has written, and the file in S3.

Items (docs/data-model.md, "Balances export"):
- the job, `EXPORT#{jobId}` / `JOB`: what was asked, its progress counters and, when done,
  the file's key; made with the request's idempotency record, counted by ADD;
- a page of rows, `EXPORT#{jobId}` / `PAGE#{shard:02d}#{page:06d}`: the CSV rows of up to
  `ACCOUNTS_PER_PAGE` accounts and their sums, written if absent in one transaction with
  the job's counters, so a page delivered twice counts once. Pages expire (TTL) a week
  after the job, the file stays in S3 for the bucket's lifecycle.
"""

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from crm_points.dynamo import from_item, queried, to_item, without_keys
from crm_points.errors import Conflict
from crm_points.records import CamelModel
from crm_points.transactions import Claim, Guard, commit, write_once

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef
    from mypy_boto3_s3.client import S3Client

JOB_SK = "JOB"
PAGE_PREFIX = "PAGE#"
# The table's TTL attribute (TimeToLiveSpecification of PointsTable in template.yaml).
TTL_ATTRIBUTE = "ttl"
PAGE_LIFETIME_SECONDS = 7 * 24 * 3600
# The file's link: long enough to download a large file, short enough not to be passed on.
LINK_LIFETIME_SECONDS = 15 * 60


def job_pk(job_id: str) -> str:
    """The partition of one export job and its pages."""
    return f"EXPORT#{job_id}"


def page_sk(shard: int, page: int) -> str:
    """The sort key of one page of a shard's rows: shards, then pages, in order."""
    return f"{PAGE_PREFIX}{shard:02d}#{page:06d}"


class PageSums(CamelModel):
    """What one page of rows adds to the job."""

    accounts: int
    closing: int
    outstanding: int
    debts: int


class ExportStore:
    """The export jobs in the points table."""

    def __init__(
        self, client: "DynamoDBClient", table_name: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.client = client
        self.table = table_name
        self.clock = clock

    def create(self, claim: Claim, job: CamelModel, answer: CamelModel) -> None:
        """Write the job, if absent, with the request's idempotency record (`answer`)."""
        values = job.model_dump(mode="json", by_alias=True, exclude_none=True)
        guard = Guard(
            job_pk(values["jobId"]),
            JOB_SK,
            Conflict("An export job of this id exists", {"jobId": values["jobId"]}),
            put={"entity": "EXPORT_JOB", **values},
        )
        commit(self.client, self.table, claim, answer, [guard])

    def job(self, job_id: str) -> dict[str, Any] | None:
        """The job's stored values (strongly consistent), or None."""
        item = self.client.get_item(
            TableName=self.table,
            Key=to_item({"PK": job_pk(job_id), "SK": JOB_SK}),
            ConsistentRead=True,
        ).get("Item")
        return without_keys(item) if item is not None else None

    def record_page(
        self,
        job_id: str,
        shard: int,
        page: int,
        rows: str,
        sums: PageSums,
        after: str | None,
    ) -> bool:
        """Write a page of rows, with where the shard's next page starts (`after`; None for
        its last page), and add its sums to the job (and, for a shard's last page, the
        shard to those done), once: False when the page was recorded before."""
        last = after is None
        expires = int(self.clock()) + PAGE_LIFETIME_SECONDS
        page_item = {
            "PK": job_pk(job_id),
            "SK": page_sk(shard, page),
            "entity": "EXPORT_PAGE",
            "rows": rows,
            "last": last,
            **({"after": after} if after is not None else {}),
            **sums.model_dump(by_alias=True),
            TTL_ATTRIBUTE: expires,
        }
        added = {**sums.model_dump(by_alias=True), "pagesDone": 1, "shardsDone": int(last)}
        names = {f"#a{i}": name for i, name in enumerate(added)}
        values = {f":a{i}": value for i, value in enumerate(added.values())}
        page_put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self.table,
                "Item": to_item(page_item),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }
        counters: TransactWriteItemTypeDef = {
            "Update": {
                "TableName": self.table,
                "Key": to_item({"PK": job_pk(job_id), "SK": JOB_SK}),
                "UpdateExpression": "SET #status = :running ADD "
                + ", ".join(f"#a{i} :a{i}" for i in range(len(added))),
                "ConditionExpression": "attribute_exists(PK)",
                "ExpressionAttributeNames": {**names, "#status": "status"},
                "ExpressionAttributeValues": to_item({**values, ":running": "RUNNING"}),
            }
        }
        return write_once(self.client, [page_put, counters])

    def recorded_page(self, job_id: str, shard: int, page: int) -> tuple[str | None] | None:
        """Where the shard's next page starts, as the page recorded it: (None,) after its
        last page; None when the page is not recorded."""
        item = self.client.get_item(
            TableName=self.table,
            Key=to_item({"PK": job_pk(job_id), "SK": page_sk(shard, page)}),
            ProjectionExpression="#last, #after",
            ExpressionAttributeNames={"#last": "last", "#after": "after"},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        values = from_item(item)
        return (None if values["last"] else values["after"],)

    def pages(self, job_id: str) -> Iterator[str]:
        """Every page's rows, shard by shard, page by page."""
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :pages)",
            "ExpressionAttributeValues": to_item({":pk": job_pk(job_id), ":pages": PAGE_PREFIX}),
            "ProjectionExpression": "#rows",
            "ExpressionAttributeNames": {"#rows": "rows"},
            "ConsistentRead": True,
        }
        for values in queried(self.client, arguments):
            yield values["rows"]

    def finish(self, job_id: str, finished: dict[str, Any]) -> bool:
        """Mark the job DONE with `finished` (its file, when, the roll-forward's closing),
        once: False when it was already done."""
        names = {f"#f{i}": name for i, name in enumerate(finished)}
        values = {f":f{i}": value for i, value in enumerate(finished.values())}
        sets = ", ".join(f"#f{i} = :f{i}" for i in range(len(finished)))
        try:
            self.client.update_item(
                TableName=self.table,
                Key=to_item({"PK": job_pk(job_id), "SK": JOB_SK}),
                UpdateExpression=f"SET #status = :done, {sets}",
                ConditionExpression="attribute_exists(PK) AND #status <> :done",
                ExpressionAttributeNames={**names, "#status": "status"},
                ExpressionAttributeValues=to_item({**values, ":done": "DONE"}),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True


class ExportFiles:
    """The export files in the bucket (EXPORT_BUCKET)."""

    def __init__(self, client: "S3Client", bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def put(self, key: str, text: str) -> None:
        """Write the file (CSV, UTF-8), encrypted at rest by the bucket's default."""
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=text.encode(),
            ContentType="text/csv; charset=utf-8",
            ContentDisposition=f'attachment; filename="{key.rpartition("/")[2]}"',
        )

    def link(self, key: str) -> str:
        """A link that downloads the file for LINK_LIFETIME_SECONDS."""
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=LINK_LIFETIME_SECONDS,
        )
