"""Finance's balances export (docs/finance.md, "Balances export"): every customer's balance
at the end of a month, as a CSV file in S3 for the auditors' sampling, made by a job.

`POST /points/finance/balances-export?asOf=M` records the job and queues one task per shard
of the account index; each task reads `ACCOUNTS_PER_PAGE` accounts of its shard, works out
each one's balance at M's end, records the page's rows and sums in the job (once, however
often the task is delivered) and queues the shard's next page. The task that finishes the
last shard writes the file from the pages, in shard and page order, and the job is done;
`GET /points/finance/balances-export/{jobId}` shows its progress and then a link to the
file that expires.

An account's balance at M's end is what the roll-forward's closing sums: the points of its
entries dated up to M's end. The account index gives the balance, the number of entries it
counts and when the account was last written, from one version of the account; only an
account written since shortly before M's end has its newest entries read, those that
version counts, back to that moment (`SETTLED`). The cost so follows the accounts, and the
entries written since the month, read `READERS` at a time per task, `MAX_CONCURRENCY` tasks
at a time (template.yaml).

No Lambda here: the stores, the queue and the files come in (crm_points.runtime builds them).
"""

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import Field

from crm_points.analytics import last_full_month, next_month, reportable_month
from crm_points.errors import NotFound
from crm_points.export_store import LINK_LIFETIME_SECONDS, ExportFiles, ExportStore, PageSums
from crm_points.ledger import new_id
from crm_points.ledger_store import INDEX_SHARDS, LedgerStore, ListedAccount, api_claim
from crm_points.records import Actor, CamelModel, UtcDateTime, iso_utc
from crm_points.transactions import (
    ClaimTaken,
    Idempotent,
    Retry,
    WriteConflict,
    replayed,
    retries_exhausted,
)
from crm_points.validation import BUSINESS_TIMEZONE

if TYPE_CHECKING:
    from crm_points.analytics_store import AnalyticsStore

ACCOUNTS_PER_PAGE = 1_000
# Accounts whose balance one task works out at once (a Query each, when one is needed).
READERS = 8
# An entry is dated when it is made; one written later but dated earlier (an expiry run
# retried, or redriven from its dead-letter queue) is dated at most this long before it was
# written, and the job's result says whether its total ties to the roll-forward's closing.
SETTLED = timedelta(days=35)
CSV_HEADER = "customerId,balance,amountZar\r\n"


class ExportStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"


class ExportJob(CamelModel):
    """A balances export: what was asked, how far it has got, and its totals."""

    job_id: str
    as_of: str = Field(description="YYYY-MM: the balances at this month's end")
    status: ExportStatus
    requested_by: Actor
    requested_at: UtcDateTime
    value_per_point_cents: Decimal = Field(json_schema_extra={"type": "string"})
    shards: int = Field(description="The parts of the account index the job reads")
    shards_done: int = 0
    pages_done: int = 0
    accounts: int = Field(default=0, description="Accounts exported so far")
    closing: int = Field(default=0, description="Their balances summed (points)")
    outstanding: int = Field(default=0, description="Their positive balances summed")
    debts: int = Field(default=0, description="Their negative balances summed")
    finished_at: UtcDateTime | None = None
    file_name: str | None = None
    roll_forward_closing: int | None = Field(
        default=None,
        description="The roll-forward's closing of the month when the job finished (as "
        "closed, for a closed month): `closing` equals it when every balance ties",
    )
    roll_forward_outstanding: int | None = Field(
        default=None, description="Its outstanding, beside `outstanding`"
    )
    roll_forward_debts: int | None = Field(default=None, description="Its debts, beside `debts`")


class ExportJobView(ExportJob):
    """GET /points/finance/balances-export/{jobId}: the job, and when done its file's link."""

    link: str | None = Field(default=None, description="Downloads the CSV until linkExpiresAt")
    link_expires_at: UtcDateTime | None = None


class PageTask(CamelModel):
    """One queued page of one shard: whose balances to work out, and where to start."""

    job_id: str
    as_of: str
    shard: int
    page: int
    after: str | None = None
    value_per_point_cents: Decimal


class TaskQueue(Protocol):
    def send(self, bodies: Sequence[str]) -> None: ...


def month_end(month: str) -> datetime:
    """The last millisecond of `month` (Africa/Johannesburg), in UTC."""
    year, number = map(int, next_month(month).split("-"))
    start = datetime(year, number, 1, tzinfo=BUSINESS_TIMEZONE)
    return (start - timedelta(milliseconds=1)).astimezone(UTC)


def balance_at(account: ListedAccount, end: datetime, ledger: LedgerStore) -> int | None:
    """The account's balance at `end`: its points dated up to then. None when the account
    was made later (it had no balance then)."""
    if account.created_at > end:
        return None
    if account.updated_at < end - SETTLED:
        return account.current_balance
    return account.current_balance - ledger.points_since(account, end, end - SETTLED)


def amount_text(points: int, cents: Decimal) -> str:
    """Points at `cents` each, in rand, exactly."""
    from crm_points.finance import rand_text

    return rand_text(Decimal(points) * cents / 100)


class BalancesExports:
    """Finance's balances export jobs."""

    def __init__(
        self,
        ledger: LedgerStore,
        store: ExportStore,
        *,
        queue: Callable[[], TaskQueue],
        files: Callable[[], ExportFiles],
        analytics: "AnalyticsStore",
        readers: int = READERS,
    ) -> None:
        self.ledger = ledger
        self.store = store
        self.queue = queue
        self.files = files
        self.analytics = analytics
        self.readers = readers

    def submit(
        self,
        actor: Actor,
        idempotency_key: str,
        as_of: str | None,
        now: datetime,
        cents: Decimal,
    ) -> Idempotent[ExportJob]:
        """Record a job for the balances at `as_of`'s end (a month begun; 422 otherwise)
        and queue its first page of every shard. The same request again answers the same
        job (and queues its pages again: a page recorded before is not counted twice)."""
        # By default the last month that is over: the current one's balances are still moving.
        month = last_full_month(now) if as_of is None else reportable_month(as_of, now, "asOf")
        payload = {"asOf": month, "actor": actor.user_id}
        claim = api_claim(actor.user_id, idempotency_key, "balances-export", payload)
        job = ExportJob(
            job_id=new_id(now),
            as_of=month,
            status=ExportStatus.QUEUED,
            requested_by=actor,
            requested_at=now,
            value_per_point_cents=cents,
            shards=INDEX_SHARDS,
        )
        made = Idempotent(job)
        try:
            self.store.create(claim, job, job)
        except ClaimTaken as taken:
            made = replayed(claim, taken.stored, ExportJob)
            job = made.answer
        self._queue(
            PageTask(
                job_id=job.job_id,
                as_of=job.as_of,
                shard=shard,
                page=0,
                value_per_point_cents=job.value_per_point_cents,
            )
            for shard in range(job.shards)
        )
        return made

    def _queue(self, tasks: Iterable[PageTask]) -> None:
        self.queue().send([task.model_dump_json(by_alias=True) for task in tasks])

    def process(self, body: str, now: datetime) -> None:
        """Work out one page of one shard, record it once, queue the shard's next page;
        the task that completes the last shard writes the file."""
        task = PageTask.model_validate_json(body)
        job = self.store.job(task.job_id)
        if job is None:
            raise NotFound(f"Export job {task.job_id} does not exist", {"jobId": task.job_id})
        if job["status"] == ExportStatus.DONE:
            # A page delivered again after the job finished (a replayed POST queues every
            # shard's first page again): nothing is left to do.
            return
        # A page delivered again goes on from where its first delivery went (the listing
        # may have moved since): its next page is queued again, in case the first delivery
        # failed after recording it, and it is not counted again.
        recorded = self.store.recorded_page(task.job_id, task.shard, task.page)
        if recorded is None:
            recorded = self._record(task)
        (after,) = recorded
        if after is not None:
            self._queue([task.model_copy(update={"page": task.page + 1, "after": after})])
            return
        job = self.store.job(task.job_id)
        if job is not None and job["shardsDone"] >= job["shards"] and job["status"] != "DONE":
            self._finish(task, now)

    def _record(self, task: PageTask) -> tuple[str | None]:
        """Work out the page's balances and record them; where the next page starts."""
        end = month_end(task.as_of)
        listed, after = self.ledger.listed_accounts(task.shard, task.after, ACCOUNTS_PER_PAGE)
        with ThreadPoolExecutor(max_workers=self.readers) as pool:
            balances = list(pool.map(lambda account: balance_at(account, end, self.ledger), listed))
        rows = []
        sums = PageSums(accounts=0, closing=0, outstanding=0, debts=0)
        for account, balance in zip(listed, balances, strict=True):
            if balance is None:
                continue
            amount = amount_text(balance, task.value_per_point_cents)
            rows.append(f"{account.customer_id},{balance},{amount}\r\n")
            sums.accounts += 1
            sums.closing += balance
            sums.outstanding += max(balance, 0)
            sums.debts += min(balance, 0)

        def record() -> bool:
            return self.store.record_page(
                task.job_id, task.shard, task.page, "".join(rows), sums, after
            )

        # The job's item takes every page's counters: a concurrent page's is tried again.
        busy = "The export job is busy; the page is delivered again"
        if Retry(again=(WriteConflict,)).run(record, lambda: retries_exhausted(busy)):
            return (after,)
        # Recorded by another delivery of the same page meanwhile: go on from where it did.
        raced = self.store.recorded_page(task.job_id, task.shard, task.page)
        if raced is None:
            raise ValueError("a page found recorded is not there")
        return raced

    def _finish(self, task: PageTask, now: datetime) -> None:
        name = f"points-balances-{task.as_of}.csv"
        key = f"exports/{task.job_id}/{name}"
        self.files().put(key, CSV_HEADER + "".join(self.store.pages(task.job_id)))
        from crm_points.config import PointsConfig
        from crm_points.finance import roll_forward

        # The closing in points, whatever the value per point: the default configuration.
        report = roll_forward(self.analytics.ledger(), task.as_of, task.as_of, PointsConfig())
        month = report.months[0].points
        self.store.finish(
            task.job_id,
            {
                "fileKey": key,
                "fileName": name,
                "finishedAt": iso_utc(now),
                "rollForwardClosing": month.closing,
                "rollForwardOutstanding": month.outstanding,
                "rollForwardDebts": month.debts,
            },
        )

    def view(self, job_id: str, now: datetime) -> ExportJobView:
        """The job, with a link to its file once it is done (404 when there is none)."""
        stored: dict[str, Any] | None = self.store.job(job_id)
        if stored is None:
            raise NotFound(f"Export job {job_id} does not exist", {"jobId": job_id})
        key = stored.pop("fileKey", None)
        view = ExportJobView.model_validate(stored)
        if key is not None:
            view.link = self.files().link(str(key))
            view.link_expires_at = now + timedelta(seconds=LINK_LIFETIME_SECONDS)
        return view
