"""Bulk awards (SPEC §3: POST /points/bulk-award, GET /points/bulk-jobs/{jobId}).

A job is accepted whole or refused whole: its body must be rows (JSON `{"rows": [...]}` or
CSV with the header `customerId,amount,reason[,expiryDate]`), 1 to 10,000 of them. Each row
is then checked on its own: a bad row fails alone, with its reason, and the good rows are
awarded through `PointsService.award`, the same ledger rules as POST /points/award, with the
admin who made the job as the actor and `bulk:{jobId}:{rowNumber}` as the idempotency key.

The rows travel through a queue, several to a message (`RowChunk`); the worker records each
row's result and counts it in the job in one transaction, conditioned on that result not
being there yet, so a message delivered twice awards once and counts once (§2.9). Only a
transient failure (throttling, a lost connection, a conflict that outlasted its retries)
fails a message, to be delivered again; a row the ledger refuses is a failed row.

No Lambda and no clients here: the table and the queue come in as a `JobStore` and a
`RowQueue` (crm_points.bulk_store's, built by crm_points.runtime).
"""

import csv
import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import Any, Protocol, TypeVar

from botocore.exceptions import ClientError
from pydantic import Field
from pydantic import ValidationError as PydanticValidationError

from crm_points import ledger, transactions
from crm_points.api_models import MAX_BULK_ROWS, BulkAwardRequest
from crm_points.errors import (
    Conflict,
    NotFound,
    PointsError,
    ValidationFailed,
)
from crm_points.ledger_service import PointsService, Request
from crm_points.records import Actor, CamelModel, UtcDateTime
from crm_points.transactions import (
    THROTTLED,
    Idempotent,
    Retry,
    fingerprint,
    retries_exhausted,
)
from crm_points.validation import Amount, DayOrMoment, Id, Reason, future_expiry

MAX_ROWS = MAX_BULK_ROWS
# Rows per queue message: a message is the unit of retry, and 10,000 rows make 200 messages
# (20 SendMessageBatch calls). The worker records a message's results in one transaction of
# at most 100 items: the rows and the job's counters.
ROWS_PER_MESSAGE = 50
CSV_MEDIA_TYPE = "text/csv"
JSON_MEDIA_TYPE = "application/json"
CSV_HEADERS = ("customerId,amount,reason", "customerId,amount,reason,expiryDate")
# What the documented text/csv schema says, as a JSON Schema (ECMA) pattern: the header line
# (after an optional byte-order mark), then at least one line with something on it.
CSV_PATTERN = r"^\ufeff?customerId,amount,reason(,expiryDate)?(\r\n|\r|\n)[\s\S]*[^\r\n][\s\S]*$"
# What a failed row's result keeps of a customerId that was not valid.
_SHOWN_ID_LENGTH = 100

_T = TypeVar("_T")


# -- jobs and rows ----------------------------------------------------------------------------


class JobStatus(StrEnum):
    """Where a job is: derived from its counters, never stored, so it cannot disagree."""

    QUEUED = "QUEUED"  # no row has a result yet
    RUNNING = "RUNNING"  # some rows have results
    COMPLETED = "COMPLETED"  # every row was awarded
    COMPLETED_WITH_ERRORS = "COMPLETED_WITH_ERRORS"  # every row has a result, some failed
    FAILED = "FAILED"  # every row failed


class RowStatus(StrEnum):
    AWARDED = "AWARDED"
    FAILED = "FAILED"


class RowError(CamelModel):
    """Why a row failed: the error code and message POST /points/award would have answered."""

    code: str
    message: str


class JobRecord(CamelModel):
    """A job as stored: who made it, how many rows, and how many have a result."""

    job_id: str
    total_rows: int
    succeeded: int = 0
    failed: int = 0
    created_by: Actor
    created_at: UtcDateTime
    updated_at: UtcDateTime
    request_id: str
    media_type: str
    enqueued_at: UtcDateTime | None = Field(
        default=None, description="When every message of the job was on the queue"
    )


class BulkJob(CamelModel):
    """A bulk award job's progress."""

    job_id: str
    status: JobStatus
    total_rows: int
    succeeded: int = Field(description="Rows awarded")
    failed: int = Field(description="Rows that failed, each with its reason")
    pending: int = Field(description="Rows without a result yet")
    created_by: Actor
    created_at: UtcDateTime
    updated_at: UtcDateTime = Field(
        description="When the latest result was recorded (when the job finished, once it has)"
    )

    @classmethod
    def of(cls, record: JobRecord) -> "BulkJob":
        done = record.succeeded + record.failed
        if done == 0:
            status = JobStatus.QUEUED
        elif done < record.total_rows:
            status = JobStatus.RUNNING
        elif record.failed == 0:
            status = JobStatus.COMPLETED
        elif record.succeeded == 0:
            status = JobStatus.FAILED
        else:
            status = JobStatus.COMPLETED_WITH_ERRORS
        return cls(
            job_id=record.job_id,
            status=status,
            total_rows=record.total_rows,
            succeeded=record.succeeded,
            failed=record.failed,
            pending=record.total_rows - done,
            created_by=record.created_by,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class RowResult(CamelModel):
    """What became of one row."""

    row_number: int = Field(description="The row's place among the job's rows, from 1")
    customer_id: str | None = Field(
        default=None, description="As sent (absent when it was not text)"
    )
    amount: int | None = Field(
        default=None, description="As sent (absent when it was not a whole number)"
    )
    status: RowStatus
    transaction_id: str | None = Field(default=None, description="The AWARD entry (AWARDED)")
    error: RowError | None = Field(default=None, description="Why the row failed (FAILED)")
    processed_at: UtcDateTime


class BulkJobPage(CamelModel):
    """GET /points/bulk-jobs/{jobId}: the job's progress and a page of its row results, in
    row order. Each page is one DynamoDB Query; the job's progress comes with the first page
    (without `cursor`), the pages after it carry rows only."""

    job_id: str
    job: BulkJob | None = Field(
        default=None, description="The job's progress (on the first page only)"
    )
    rows: list[RowResult]
    next_cursor: str | None = None


class BulkRow(CamelModel):
    """One row as queued: checked at intake, so it is either an award to make or a failure
    to record (`error`)."""

    row_number: int
    customer_id: str | None = None
    amount: int | None = None
    reason: str | None = None
    expiry_date: UtcDateTime | None = Field(default=None, description="When its points expire")
    error: RowError | None = None


class RowChunk(CamelModel):
    """One queue message: some consecutive rows of one job, and who made the job."""

    job_id: str
    actor: Actor
    request_id: str
    rows: list[BulkRow]


# -- reading the body -------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmittedRow:
    """A row as the body gave it: its fields, or why they could not be read as fields."""

    number: int
    values: dict[str, Any]
    problem: str | None = None


def _not_rows(message: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(message, {"field": "body", **details})


def read_rows(media_type: str, text: str) -> list[SubmittedRow]:
    """The rows of a bulk-award body; anything that is not 1 to 10,000 rows is a 422.

    `media_type` is the Content-Type without parameters; a body without one is refused.
    """
    if media_type == JSON_MEDIA_TYPE:
        rows = _json_rows(text)
    elif media_type == CSV_MEDIA_TYPE:
        rows = _csv_rows(text)
    else:
        raise ValidationFailed(
            "The body must be JSON (application/json) or CSV (text/csv)",
            {"field": "body", "contentType": media_type},
        )
    if not rows:
        raise _not_rows("A bulk award needs at least one row")
    if len(rows) > MAX_ROWS:
        raise _not_rows(f"A bulk award takes at most {MAX_ROWS:,} rows", rows=len(rows))
    return rows


def _json_rows(text: str) -> list[SubmittedRow]:
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        raise _not_rows("The body is not valid JSON") from None
    rows = body.get("rows") if isinstance(body, dict) else None
    if isinstance(rows, list) and len(rows) > MAX_ROWS:  # before looking at each of them
        raise _not_rows(f"A bulk award takes at most {MAX_ROWS:,} rows", rows=len(rows))
    try:
        envelope = BulkAwardRequest.model_validate(body)
    except PydanticValidationError as invalid:
        problems = [
            {
                "field": ".".join(str(part) for part in problem["loc"]),
                "location": "body",
                "message": problem["msg"],
            }
            for problem in invalid.errors()[:10]
        ]
        raise _not_rows(
            'The body must be {"rows": [...]}: 1 to 10,000 objects', errors=problems
        ) from None
    return [
        SubmittedRow(number, row.model_dump(by_alias=True, exclude_unset=True))
        for number, row in enumerate(envelope.rows, start=1)
    ]


def _csv_rows(text: str) -> list[SubmittedRow]:
    text = text.removeprefix("\ufeff")
    header, newline, rest = _first_line(text)
    if header not in CSV_HEADERS or not newline:
        raise _not_rows(
            "A CSV body starts with the line customerId,amount,reason "
            "(or customerId,amount,reason,expiryDate)"
        )
    columns = header.split(",")
    rows: list[SubmittedRow] = []
    try:
        for record in csv.reader(io.StringIO(rest, newline="")):
            _add_csv_row(rows, columns, header, record)
    except csv.Error as malformed:  # a cell over the parser's field limit, a stray NUL
        raise _not_rows(
            f"Row {len(rows) + 1} is not valid CSV: {malformed}", row=len(rows) + 1
        ) from None
    return rows


def _add_csv_row(
    rows: list[SubmittedRow], columns: list[str], header: str, record: list[str]
) -> None:
    if not record:
        return  # an empty line
    number = len(rows) + 1
    if len(rows) == MAX_ROWS:
        raise _not_rows(f"A bulk award takes at most {MAX_ROWS:,} rows", rows=number)
    if len(record) != len(columns):
        problem = f"expected {len(columns)} fields ({header}), found {len(record)}"
        rows.append(SubmittedRow(number, {"customerId": record[0].strip()}, problem))
        return
    values = dict(zip(columns, record, strict=True))
    rows.append(SubmittedRow(number, _typed_cells(values)))


def _first_line(text: str) -> tuple[str, str, str]:
    """(first line, its line break, the rest): a line ends at \\r\\n, \\r or \\n."""
    for index, character in enumerate(text):
        if character in "\r\n":
            newline = "\r\n" if text[index : index + 2] == "\r\n" else character
            return text[:index], newline, text[index + len(newline) :]
    return text, "", ""


def _typed_cells(values: dict[str, str]) -> dict[str, Any]:
    """CSV cells as JSON would give them: spaces around an id, amount or date trimmed (the
    reason is kept as sent), the amount a number when it is digits, an empty date absent."""
    typed: dict[str, Any] = {
        "customerId": values["customerId"].strip(),
        "amount": values["amount"].strip(),
        "reason": values["reason"],
    }
    if typed["amount"].isascii() and typed["amount"].isdigit():
        typed["amount"] = int(typed["amount"])
    expiry = values.get("expiryDate", "").strip()
    if expiry:
        typed["expiryDate"] = expiry
    return typed


class _RowFields(CamelModel):
    """A row's fields, with the rules of POST /points/award."""

    customer_id: Id
    amount: Amount
    reason: Reason
    expiry_date: DayOrMoment | None = None


def check_row(row: SubmittedRow, now: datetime) -> BulkRow:
    """The row to queue: an award to make, or the reason it fails."""
    values = row.values
    shown_id = values.get("customerId")
    shown_amount = values.get("amount")
    failed = BulkRow(
        row_number=row.number,
        customer_id=shown_id[:_SHOWN_ID_LENGTH] if isinstance(shown_id, str) else None,
        amount=shown_amount
        if isinstance(shown_amount, int) and not isinstance(shown_amount, bool)
        else None,
    )
    if row.problem is not None:
        return failed.model_copy(
            update={"error": RowError(code="VALIDATION_ERROR", message=row.problem)}
        )
    try:
        fields = _RowFields.model_validate(values)
        expiry = (
            future_expiry(fields.expiry_date, now, "expiryDate") if fields.expiry_date else None
        )
    except PydanticValidationError as invalid:
        message = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'row'}: {problem['msg']}"
            for problem in invalid.errors()
        )
        return failed.model_copy(
            update={"error": RowError(code="VALIDATION_ERROR", message=message)}
        )
    except PointsError as refused:
        return failed.model_copy(
            update={"error": RowError(code=refused.code, message=refused.message)}
        )
    return BulkRow(
        row_number=row.number,
        customer_id=fields.customer_id,
        amount=fields.amount,
        reason=fields.reason,
        expiry_date=expiry,
    )


def chunks(job_id: str, actor: Actor, request_id: str, rows: Sequence[BulkRow]) -> list[RowChunk]:
    """The job's messages: `ROWS_PER_MESSAGE` consecutive rows each."""
    return [
        RowChunk(
            job_id=job_id,
            actor=actor,
            request_id=request_id,
            rows=list(rows[start : start + ROWS_PER_MESSAGE]),
        )
        for start in range(0, len(rows), ROWS_PER_MESSAGE)
    ]


# -- the queue and transient failures ---------------------------------------------------------


class JobStore(Protocol):
    """Where jobs and their row results are kept (crm_points.bulk_store.BulkStore)."""

    def create_job(
        self, record: "JobRecord", idempotency_key: str, request_hash: str, answer: "BulkJob"
    ) -> "BulkJob | None":
        """Write the job with the request's record; the earlier answer if the key was used."""

    def job(self, job_id: str) -> "JobRecord | None":
        """The job, if it exists."""

    def mark_enqueued(self, job_id: str, now: datetime) -> None:
        """Note that every message of the job is on the queue."""

    def recorded_rows(self, job_id: str, first: int, last: int) -> set[int]:
        """The row numbers from `first` to `last` that have a result."""

    def record_results(
        self, job_id: str, results: Sequence["RowResult"], now: datetime
    ) -> set[int] | None:
        """Put the results once each; the rows recorded before when some were."""

    def read_page(
        self, job_id: str, limit: int, cursor: str | None
    ) -> tuple["JobRecord | None", list["RowResult"], str | None]:
        """The job (first page) and up to `limit` results after the cursor's row."""


class RowQueue(Protocol):
    """Where the rows wait for the worker."""

    def send(self, bodies: Sequence[str]) -> None:
        """Put every message on the queue, or raise."""


class QueueUnavailable(Exception):
    """The queue did not take every message, after retries."""


class ResultsContended(Exception):
    """DynamoDB refused a results transaction for a concurrent one on the same job: retry."""


class JobMissing(Exception):
    """Results came for a job that was never recorded (a message not made by this API)."""


def is_transient(error: BaseException) -> bool:
    """A failure after which the same work may well succeed: what the ledger retries
    (throttling, a dropped connection, a DynamoDB fault), a transaction conflict, a queue
    that did not answer, or a conflict that outlasted the service's retries."""
    if isinstance(error, QueueUnavailable | ResultsContended):
        return True
    if isinstance(error, Conflict):
        return error.retryable
    if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") == (
        "TransactionConflict"
    ):
        return True
    return isinstance(error, Exception) and transactions.is_transient(error)


class TransientFailure(Exception):
    """A message's work stopped on a transient failure: the message is to be delivered again."""


class _RecordedBefore(Exception):
    """Some of the results were recorded by another delivery first: the rest go again."""


# -- the service --------------------------------------------------------------------------------


class BulkAwards:
    """Bulk award jobs: accept one (and queue its rows), process a message, read a job."""

    def __init__(
        self,
        points: PointsService,
        store: JobStore,
        queue: RowQueue | None = None,
        *,
        max_attempts: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.points = points
        self.store = store
        self.queue = queue
        self.max_attempts = max_attempts
        self.sleep = sleep

    # accepting a job

    def submit(
        self, request: Request, media_type: str, rows: Sequence[SubmittedRow]
    ) -> Idempotent[BulkJob]:
        """Record the job and queue its rows; the same request again answers the same job
        (and queues its rows again if the first attempt stopped before they were queued)."""
        payload = {
            "mediaType": media_type or JSON_MEDIA_TYPE,
            "rows": [[row.values, row.problem] for row in rows],
            "actor": request.actor.user_id,
        }
        request_hash = fingerprint("bulk-award", payload)
        now = request.now
        checked = [check_row(row, now) for row in rows]
        record = JobRecord(
            job_id=ledger.new_id(now),
            total_rows=len(rows),
            created_by=request.actor,
            created_at=now,
            updated_at=now,
            request_id=request.request_id,
            media_type=payload["mediaType"],
        )
        answer = BulkJob.of(record)
        earlier = self._retried(
            partial(self.store.create_job, record, request.idempotency_key, request_hash, answer)
        )
        replayed = earlier is not None
        if earlier is not None:
            answer = earlier
            first = self._retried(partial(self.store.job, answer.job_id))
            if first is None:
                raise NotFound(f"Bulk job {answer.job_id} does not exist", {"jobId": answer.job_id})
            if first.enqueued_at is not None:
                return Idempotent(answer, replayed=True)
            # Checked as of the first request, so each row fails or not as it did then.
            record = first
            checked = [check_row(row, record.created_at) for row in rows]
        self._enqueue(chunks(record.job_id, record.created_by, record.request_id, checked))
        self._retried(partial(self.store.mark_enqueued, record.job_id, now))
        return Idempotent(answer, replayed)

    def _retried(self, work: Callable[[], _T]) -> _T:
        """A request of the POST, retried on transient failures; then 409 CONFLICT, which
        the caller may retry with the same Idempotency-Key."""
        # A Conflict, retryable or not, is already an answer for the caller.
        retry = Retry(
            self.max_attempts,
            self.sleep,
            transient=lambda error: is_transient(error) and not isinstance(error, Conflict),
        )
        return retry.run(work, lambda: retries_exhausted("DynamoDB did not answer; try again"))

    def _enqueue(self, messages: list[RowChunk]) -> None:
        if self.queue is None:
            raise RuntimeError("This function has no bulk-award queue configured")
        bodies = [message.model_dump_json(by_alias=True, exclude_none=True) for message in messages]
        try:
            self.queue.send(bodies)
        except Exception as error:
            if not is_transient(error):
                raise
            # The job exists; the same request again (same key) queues its rows again.
            raise Conflict(
                "The job was recorded but its rows could not all be queued; "
                "send the same request again (same Idempotency-Key)",
                {"cause": type(error).__name__},
                retryable=True,
            ) from error

    # the worker

    def process(self, body: str, now: datetime) -> list[RowResult]:
        """Award the rows of one message that have no result yet and record their results.

        Raises `TransientFailure` when the message must be delivered again; the results
        recorded before it stay (and count once).
        """
        chunk = RowChunk.model_validate_json(body)
        if not chunk.rows:
            return []
        first, last = chunk.rows[0].row_number, chunk.rows[-1].row_number
        done = self.store.recorded_rows(chunk.job_id, first, last)
        results: list[RowResult] = []
        for row in chunk.rows:
            if row.row_number in done:
                continue  # recorded by an earlier delivery
            try:
                results.append(self._award(chunk, row, now))
            except Exception as error:
                if not is_transient(error):
                    raise
                # What was done so far counts now; the rest waits for the next delivery.
                self._record(chunk.job_id, results, now)
                raise TransientFailure(f"row {row.row_number}: {type(error).__name__}") from error
        self._record(chunk.job_id, results, now)
        return results

    def _award(self, chunk: RowChunk, row: BulkRow, now: datetime) -> RowResult:
        result = RowResult(
            row_number=row.row_number,
            customer_id=row.customer_id,
            amount=row.amount,
            status=RowStatus.FAILED,
            error=row.error,
            processed_at=now,
        )
        if row.error is not None:
            return result
        assert row.customer_id is not None
        assert row.amount is not None
        assert row.reason is not None
        request = Request(
            actor=chunk.actor,
            request_id=chunk.request_id,
            now=now,
            idempotency_key=f"bulk:{chunk.job_id}:{row.row_number}",
        )
        try:
            posting = self.points.award(
                request,
                customer_id=row.customer_id,
                amount=row.amount,
                reason=row.reason,
                expiry_date=row.expiry_date,
            )
        except PointsError as refused:
            if is_transient(refused):
                raise
            error = RowError(code=refused.code, message=refused.message)
            return result.model_copy(update={"error": error})
        return result.model_copy(
            update={
                "status": RowStatus.AWARDED,
                "transaction_id": posting.transactions[0].transaction_id,
            }
        )

    def _record(self, job_id: str, results: list[RowResult], now: datetime) -> None:
        """Record results and count them in the job, each exactly once: a result another
        delivery recorded first is left out and the rest tried again."""
        pending = list(results)

        def record() -> None:
            nonlocal pending
            taken = self.store.record_results(job_id, pending, now) if pending else None
            if taken is None:
                return
            pending = [result for result in pending if result.row_number not in taken]
            if pending:
                raise _RecordedBefore

        # This module's is_transient: a store that kept conflicting is tried again too.
        retry = Retry(
            self.max_attempts,
            self.sleep,
            again=(_RecordedBefore,),
            transient=is_transient,
            backoff=THROTTLED,
        )
        retry.run(
            record,
            lambda: TransientFailure(f"could not record {len(pending)} results of job {job_id}"),
        )

    # reading a job

    def page(self, job_id: str, limit: int, cursor: str | None) -> BulkJobPage:
        """The job's progress (first page) and a page of its row results, in row order."""
        record, rows, next_cursor = self.store.read_page(job_id, limit, cursor)
        if cursor is None and record is None:
            raise NotFound(f"Bulk job {job_id} does not exist", {"jobId": job_id})
        return BulkJobPage(
            job_id=job_id,
            job=BulkJob.of(record) if record is not None else None,
            rows=rows,
            next_cursor=next_cursor,
        )
