"""Throughput of the ledger's writes and summary read, beside bare boto3 calls of the same shape.

Run from the repository root: `.venv/bin/python bench/ledger.py` (`make bench`), or with
`--quick` for smaller counts. It starts DynamoDB Local in memory, or uses the DynamoDB at
AWS_ENDPOINT_URL_DYNAMODB, creates a fresh table from template.yaml and measures:

- award: one AWARD on an account holding one lot;
- redeem: 100 points drawn FIFO from an account holding 50 lots of 2 points (50 allocations);
- summary: the account summary (`account_reads.customer_points`, one Query).

Each with 1 and with 8 threads. Every write goes to its own prepared account, so threads never
contend for an account (no optimistic-concurrency retries are measured); the summary reads
one prepared account per thread. Each thread has its own client.

The "bare" baseline replays, with plain boto3 calls, the requests our code made: the Query of
the account and its pages, and a TransactWriteItems with the same items, conditions and sizes
(fresh keys and ids), or the same summary Query. The ratio ours/bare is what the domain code
(planning, validation, serialising) costs on top of the calls themselves. Capacity units come
from ReturnConsumedCapacity=TOTAL, added to every request by a botocore hook, since the store
does not ask for them.
"""

import argparse
import copy
import os
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

ROOT = Path(__file__).resolve().parent.parent
# Run as a script: make the shared layer and the repository root importable, as pytest does.
for _path in (ROOT, ROOT / "layers" / "shared"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from crm_points import account_reads  # noqa: E402
from crm_points.config import PointsConfig  # noqa: E402
from crm_points.ledger_service import PointsService, Request  # noqa: E402
from crm_points.ledger_store import LedgerStore, account_items  # noqa: E402
from crm_points.records import Account, Actor  # noqa: E402
from local.dynamodb_local import DynamoDBLocal, client, endpoint_from_environment  # noqa: E402
from local.template import create_table  # noqa: E402

if TYPE_CHECKING:
    from botocore.model import OperationModel
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef, WriteRequestTypeDef

THREAD_COUNTS = (1, 8)
OPERATIONS = ("award", "redeem", "summary")
METERED = ("GetItem", "Query", "TransactWriteItems")
ACTOR = Actor(user_id="bench", role="MANAGER")
AWARD_POINTS = 10
REDEEM_LOTS = 50
REDEEM_LOT_POINTS = 2
REDEEM_POINTS = REDEEM_LOTS * REDEEM_LOT_POINTS
SUMMARY_ENTRIES = 20
BATCH_WRITE_LIMIT = 25

Operation = Callable[[int], None]
"""One timed operation; its argument is the operation's number within its thread."""

Workload = Callable[["DynamoDBClient", int], Operation]
"""Builds a thread's operation from the thread's own client and the thread's number."""


@dataclass(frozen=True)
class Counts:
    """How much work a run does."""

    operations: int  # per measurement, split evenly over the threads and the rounds
    rounds: int  # ours and bare alternate round by round, so both see the same machine
    warm_up: int  # untimed operations per workload, on one thread, before measuring

    def per_thread_round(self, threads: int) -> int:
        return self.operations // threads // self.rounds

    def per_thread(self, threads: int) -> int:
        return self.per_thread_round(threads) * self.rounds


FULL = Counts(operations=320, rounds=4, warm_up=20)
QUICK = Counts(operations=64, rounds=2, warm_up=8)


# -- measuring ------------------------------------------------------------------------------------


class CapacityMeter:
    """Calls and consumed capacity units by operation, for the clients it is attached to.

    The store does not ask for consumed capacity, so a hook adds ReturnConsumedCapacity=TOTAL
    to every metered request and another reads the units from the response.
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.units: dict[str, float] = {}
        self.unreported: Counter[str] = Counter()

    def attach(self, dynamodb: "DynamoDBClient") -> None:
        events = dynamodb.meta.events
        for operation in METERED:
            events.register(f"provide-client-params.dynamodb.{operation}", self._ask)
            events.register(f"after-call.dynamodb.{operation}", self._record)

    @staticmethod
    def _ask(params: dict[str, Any], **_: Any) -> None:
        params["ReturnConsumedCapacity"] = "TOTAL"

    def _record(self, parsed: dict[str, Any], model: "OperationModel", **_: Any) -> None:
        name = model.name
        self.calls[name] += 1
        consumed = parsed.get("ConsumedCapacity")
        if consumed is None:
            self.unreported[name] += 1
            return
        # TransactWriteItems reports a list (one per table); GetItem and Query one record.
        records = consumed if isinstance(consumed, list) else [consumed]
        units = sum(float(record.get("CapacityUnits", 0.0)) for record in records)
        self.units[name] = self.units.get(name, 0.0) + units

    def merge(self, other: "CapacityMeter") -> None:
        self.calls.update(other.calls)
        self.unreported.update(other.unreported)
        for name, units in other.units.items():
            self.units[name] = self.units.get(name, 0.0) + units


@dataclass
class Measurement:
    """One timed run of a workload."""

    operations: int
    seconds: float
    meter: CapacityMeter

    @property
    def ops_per_second(self) -> float:
        return self.operations / self.seconds

    @classmethod
    def total(cls, parts: Sequence["Measurement"]) -> "Measurement":
        """Several measurements of one workload taken as one."""
        meter = CapacityMeter()
        for part in parts:
            meter.merge(part.meter)
        return cls(sum(p.operations for p in parts), sum(p.seconds for p in parts), meter)

    def calls_per_op(self) -> float:
        return sum(self.meter.calls.values()) / self.operations

    def units_per_op(self) -> str:
        """Write units (TransactWriteItems) and read units (GetItem, Query) per operation."""
        meter = self.meter
        if any(meter.unreported.values()):
            return "n/a (not reported)"
        write = meter.units.get("TransactWriteItems", 0.0) / self.operations
        read = (meter.units.get("GetItem", 0.0) + meter.units.get("Query", 0.0)) / self.operations
        parts = [f"{write:.1f} WCU"] if write else []
        parts += [f"{read:.1f} RCU"] if read else []
        return " + ".join(parts) or "0"


@dataclass(frozen=True)
class Row:
    """Ours and bare for one operation and thread count, over every round."""

    ours: Measurement
    bare: Measurement
    round_ratios: list[float]  # ours/bare within each round: how much the ratio moves

    @property
    def ratio(self) -> float:
        return self.ours.ops_per_second / self.bare.ops_per_second


def measure(endpoint: str, threads: int, numbers: range, workload: Workload) -> Measurement:
    """Run the operations `numbers` on each of `threads` threads, all starting together."""
    start_line = threading.Barrier(threads + 1)
    meters = [CapacityMeter() for _ in range(threads)]
    failures: list[BaseException] = []

    def run(index: int) -> None:
        try:
            dynamodb = client(endpoint)
            dynamodb.list_tables(Limit=1)  # open the connection before the clock starts
            meters[index].attach(dynamodb)
            operation = workload(dynamodb, index)
            start_line.wait()
            for number in numbers:
                operation(number)
        except threading.BrokenBarrierError:
            return
        except BaseException as failure:
            failures.append(failure)
            start_line.abort()

    workers = [
        threading.Thread(target=run, args=(index,), name=f"bench-{index}")
        for index in range(threads)
    ]
    for worker in workers:
        worker.start()
    with suppress(threading.BrokenBarrierError):  # a worker failed to start: raised below
        start_line.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    if failures:
        raise failures[0]
    total = CapacityMeter()
    for meter in meters:
        total.merge(meter)
    return Measurement(threads * len(numbers), seconds, total)


# -- our code -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """The table and clock every workload shares."""

    endpoint: str
    table: str
    now: datetime
    config: PointsConfig = field(default_factory=PointsConfig)

    def service(self, dynamodb: "DynamoDBClient") -> PointsService:
        return PointsService(LedgerStore(dynamodb, self.table), self.config)

    def request(self) -> Request:
        """A request with a fresh idempotency key."""
        key = uuid.uuid4().hex
        return Request(
            actor=ACTOR, request_id=f"bench-{key[:8]}", now=self.now, idempotency_key=key
        )


def post(setup: Setup, service: PointsService, kind: str, customer_id: str) -> None:
    """One ledger write of `kind` through PointsService: an award, or a redeem of every point
    of a 50-lot account."""
    if kind == "award":
        service.award(setup.request(), customer_id=customer_id, amount=AWARD_POINTS, reason="Bench")
    else:
        service.redeem(
            setup.request(), customer_id=customer_id, amount=REDEEM_POINTS, reason="Bench"
        )


def ours_write(setup: Setup, kind: str, accounts: Sequence[Sequence[str]]) -> Workload:
    """Writes of `kind` through PointsService, one prepared account per operation."""

    def workload(dynamodb: "DynamoDBClient", thread: int) -> Operation:
        service = setup.service(dynamodb)
        mine = accounts[thread]

        def operation(number: int) -> None:
            post(setup, service, kind, mine[number])

        return operation

    return workload


def ours_summary(setup: Setup, accounts: Sequence[str]) -> Workload:
    """The account summary (`account_reads.customer_points`), one account per thread."""

    def workload(dynamodb: "DynamoDBClient", thread: int) -> Operation:
        store = LedgerStore(dynamodb, setup.table)
        customer_id = accounts[thread]

        def operation(_: int) -> None:
            account_reads.customer_points(store, customer_id, setup.now, setup.config)

        return operation

    return workload


# -- bare boto3 -----------------------------------------------------------------------------------


@contextmanager
def captured(dynamodb: "DynamoDBClient", operation: str) -> Iterator[list[dict[str, Any]]]:
    """The parameters of every `operation` request made through `dynamodb` meanwhile."""
    seen: list[dict[str, Any]] = []

    def keep(params: dict[str, Any], **_: Any) -> None:
        seen.append(copy.deepcopy(params))

    event = f"provide-client-params.dynamodb.{operation}"
    dynamodb.meta.events.register(event, keep)
    try:
        yield seen
    finally:
        dynamodb.meta.events.unregister(event, keep)


def fresh_id() -> str:
    """An id as long as a ULID (26 characters), so items keep their size."""
    return uuid.uuid4().hex[:26].upper()


@dataclass(frozen=True)
class CapturedWrite:
    """The account read and the TransactWriteItems our code made for one posting, to replay
    with fresh keys: the claim, the account, the entry, and the account's pages put or
    deleted."""

    customer_id: str
    read: dict[str, Any]  # the Query of the account and its pages
    items: list[dict[str, Any]]  # the transaction's items, in the order our code sent them

    @classmethod
    def of(cls, customer_id: str, read: dict[str, Any], write: dict[str, Any]) -> "CapturedWrite":
        items = copy.deepcopy(write["TransactItems"])
        if any(set(item) - {"Put", "Delete"} for item in items):
            raise RuntimeError("a posting without guards is Puts and Deletes only")
        return cls(customer_id, copy.deepcopy(read), items)


def bare_write(
    setup: Setup, template: CapturedWrite, accounts: Sequence[Sequence[str]]
) -> Workload:
    """The account's Query, then the captured TransactWriteItems with fresh keys and ids."""
    captured_pk = {"S": f"CUST#{template.customer_id}"}
    values = template.read["ExpressionAttributeValues"]
    (pk_name,) = [name for name, value in values.items() if value == captured_pk]

    def replayed(item: dict[str, Any], pk: dict[str, str], version: int) -> dict[str, Any]:
        if "Delete" in item:
            return {"Delete": {**item["Delete"], "Key": {**item["Delete"]["Key"], "PK": pk}}}
        put = item["Put"]
        sort_key = put["Item"]["SK"]["S"]
        if sort_key == "REQUEST":
            claim = {**put["Item"], "PK": {"S": f"IDEMPOTENCY#{uuid.uuid4().hex}"}}
            return {"Put": {**put, "Item": claim}}
        if sort_key == "STATE":
            account = {**put["Item"], "PK": pk, "version": {"N": str(version + 1)}}
            if "expirySort" in account:
                sort = account["expirySort"]["S"].replace(template.customer_id, pk["S"][5:])
                account["expirySort"] = {"S": sort}
            (version_name,) = put["ExpressionAttributeValues"]
            return {
                "Put": {
                    **put,
                    "Item": account,
                    "ExpressionAttributeValues": {version_name: {"N": str(version)}},
                }
            }
        if sort_key.startswith("LEDGER#"):
            transaction_id = fresh_id()
            entry_time = put["Item"]["txTime"]["S"].split("#")[0]
            entry = {
                **put["Item"],
                "PK": pk,
                "transactionId": {"S": transaction_id},
                "txTime": {"S": f"{entry_time}#{transaction_id}"},
            }
            if "pointBatchId" in entry:
                entry["pointBatchId"] = {"S": fresh_id()}
            return {"Put": {**put, "Item": entry}}
        return {"Put": {**put, "Item": {**put["Item"], "PK": pk}}}  # a page of the account

    def workload(dynamodb: "DynamoDBClient", thread: int) -> Operation:
        mine = accounts[thread]

        def operation(number: int) -> None:
            pk = {"S": f"CUST#{mine[number]}"}
            read = dynamodb.query(
                **{**template.read, "ExpressionAttributeValues": {**values, pk_name: pk}}
            )
            version = int(read["Items"][0]["version"]["N"])
            items = [replayed(item, pk, version) for item in template.items]
            dynamodb.transact_write_items(
                TransactItems=cast("list[TransactWriteItemTypeDef]", items)
            )

        return operation

    return workload


def bare_summary(template: dict[str, Any], customer_id: str, accounts: Sequence[str]) -> Workload:
    """The captured summary Query, with the partition key of each thread's account."""
    captured_pk = f"CUST#{customer_id}"
    values = template["ExpressionAttributeValues"]
    (pk_name,) = [name for name, value in values.items() if value == {"S": captured_pk}]

    def workload(dynamodb: "DynamoDBClient", thread: int) -> Operation:
        params = {
            **template,
            "ExpressionAttributeValues": {**values, pk_name: {"S": f"CUST#{accounts[thread]}"}},
        }

        def operation(_: int) -> None:
            dynamodb.query(**params)

        return operation

    return workload


# -- preparing accounts ---------------------------------------------------------------------------


def new_ids(kind: str, count: int) -> list[str]:
    """Customer ids of one length, so every account item has the same size."""
    return [f"bench-{kind}-{uuid.uuid4().hex[:16]}" for _ in range(count)]


def clone_accounts(
    dynamodb: "DynamoDBClient", table: str, template: Account, ids: list[str]
) -> None:
    """Write a copy of `template`'s account (its item and pages) under each id."""
    requests = [
        {"PutRequest": {"Item": item}}
        for cid in ids
        for item in account_items(template.model_copy(update={"customer_id": cid}))
    ]
    for start in range(0, len(requests), BATCH_WRITE_LIMIT):
        pending = {table: requests[start : start + BATCH_WRITE_LIMIT]}
        while pending:
            response = dynamodb.batch_write_item(
                RequestItems=cast("dict[str, list[WriteRequestTypeDef]]", pending)
            )
            pending = cast("dict[str, list[dict[str, Any]]]", response.get("UnprocessedItems", {}))


@dataclass
class Plan:
    """The workload of every measurement, and the untimed warm-ups run before them."""

    workloads: dict[tuple[str, str, int], Workload] = field(default_factory=dict)
    warm_ups: list[Workload] = field(default_factory=list)


def template_accounts(setup: Setup, service: PointsService) -> dict[str, Account]:
    """The account each write starts from: one lot (award), or 50 small lots (redeem)."""
    award, redeem = new_ids("award", 1)[0], new_ids("redeem", 1)[0]
    service.award(setup.request(), customer_id=award, amount=AWARD_POINTS, reason="Lot")
    first_expiry = setup.now + timedelta(days=30)
    for day in range(REDEEM_LOTS):  # distinct expiry dates: FIFO order is by expiry
        service.award(
            setup.request(),
            customer_id=redeem,
            amount=REDEEM_LOT_POINTS,
            reason="Lot",
            expiry_date=first_expiry + timedelta(days=day),
        )
    return {"award": service.account(award), "redeem": service.account(redeem)}


def prepare_writes(setup: Setup, counts: Counts, kind: str, template: Account, plan: Plan) -> None:
    """Clone `template` for every write of `kind`, capture one write of ours, and add the
    workloads (ours and bare, each thread count, and the warm-ups) to `plan`."""
    layouts = [
        (variant, threads, [new_ids(kind, counts.per_thread(threads)) for _ in range(threads)])
        for threads in THREAD_COUNTS
        for variant in ("ours", "bare")
    ]
    layouts += [(variant, 0, [new_ids(kind, counts.warm_up)]) for variant in ("ours", "bare")]
    (captured_id,) = new_ids(kind, 1)
    everyone = [cid for _, _, ids in layouts for per_thread in ids for cid in per_thread]
    dynamodb = client(setup.endpoint)
    clone_accounts(dynamodb, setup.table, template, [*everyone, captured_id])

    with (
        captured(dynamodb, "Query") as reads_seen,
        captured(dynamodb, "TransactWriteItems") as seen,
    ):
        post(setup, setup.service(dynamodb), kind, captured_id)
    replay = CapturedWrite.of(captured_id, reads_seen[-1], seen[-1])
    for variant, threads, ids in layouts:
        if variant == "ours":
            workload = ours_write(setup, kind, ids)
        else:
            workload = bare_write(setup, replay, ids)
        if threads:
            plan.workloads[kind, variant, threads] = workload
        else:
            plan.warm_ups.append(workload)


def prepare_summary(setup: Setup, service: PointsService, plan: Plan) -> None:
    """One account with 20 entries per thread; capture our summary Query; add the workloads."""
    accounts = new_ids("summary", max(THREAD_COUNTS))
    for customer_id in accounts:
        for _ in range(SUMMARY_ENTRIES):
            service.award(setup.request(), customer_id=customer_id, amount=5, reason="Points")
    with captured(service.store.client, "Query") as seen:
        account_reads.customer_points(service.store, accounts[0], setup.now, setup.config)
    query = seen[-1]
    for threads in THREAD_COUNTS:
        plan.workloads["summary", "ours", threads] = ours_summary(setup, accounts)
        plan.workloads["summary", "bare", threads] = bare_summary(query, accounts[0], accounts)
    plan.warm_ups += [ours_summary(setup, accounts), bare_summary(query, accounts[0], accounts)]


def prepare(setup: Setup, counts: Counts) -> Plan:
    """Prepare every account (outside the timed sections) and capture our requests."""
    service = setup.service(client(setup.endpoint))
    plan = Plan()
    for kind, template in template_accounts(setup, service).items():
        prepare_writes(setup, counts, kind, template, plan)
    prepare_summary(setup, service, plan)
    return plan


# -- the run --------------------------------------------------------------------------------------


@contextmanager
def dynamodb_endpoint() -> Iterator[tuple[str, str]]:
    """The endpoint to measure and how to describe it: AWS_ENDPOINT_URL_DYNAMODB, or a
    DynamoDB Local started here (in memory) for the run."""
    external = endpoint_from_environment()
    if external:
        yield external, "the DynamoDB at AWS_ENDPOINT_URL_DYNAMODB"
        return
    with DynamoDBLocal() as local:
        yield local.endpoint, "DynamoDB Local, in memory, started by this script"


NOTES = (
    "award:   Query of the account + TransactWriteItems (account holding its 1 lot, entry,",
    "         idempotency record).",
    f"redeem:  the same; {REDEEM_POINTS} points drawn FIFO from {REDEEM_LOTS} lots of "
    f"{REDEEM_LOT_POINTS} ({REDEEM_LOTS} allocations), kept in pages: their deletes too.",
    f"summary: one Query (account + 10 newest entries); the account has {SUMMARY_ENTRIES} entries.",
    "Writes: one prepared account per operation, so threads never contend for an account;",
    "summary: one account per thread. Each thread has its own boto3 client.",
    "bare = the same requests (items, conditions, sizes; fresh keys) sent with plain boto3.",
    "ours/bare = throughput ratio over all rounds; by round = its lowest and highest round.",
    "calls/op = DynamoDB requests per operation of ours (more than 2 or 1 means retries).",
    "Units: ReturnConsumedCapacity=TOTAL as the server reports it (reads strongly consistent).",
    "DynamoDB Local numbers are relative (ours beside bare on one machine and run); they are",
    "not AWS latency or throughput, and the server shares the CPUs with this client.",
)


def report(counts: Counts, where: str, rows: dict[tuple[str, int], Row]) -> None:
    """Print the results table and how to read it."""
    print("CRM Points ledger benchmark: our code beside bare boto3 requests of the same shape")
    print(f"Against {where}; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}.")
    print(
        f"{counts.operations} operations per measurement, split over the threads and "
        f"{counts.rounds} rounds (ours and bare alternate)."
    )
    print()
    header = (
        f"{'operation':<9} {'threads':>7} {'ours ops/s':>10} {'bare ops/s':>10} "
        f"{'ours/bare':>9} {'by round':>11} {'calls/op':>8}  {'ours units/op':<18} bare units/op"
    )
    print(header)
    print("-" * len(header))
    for (operation, threads), row in rows.items():
        spread = f"{min(row.round_ratios):.2f}-{max(row.round_ratios):.2f}"
        print(
            f"{operation:<9} {threads:>7} {row.ours.ops_per_second:>10.1f} "
            f"{row.bare.ops_per_second:>10.1f} {row.ratio:>9.2f} {spread:>11} "
            f"{row.ours.calls_per_op():>8.2f}  {row.ours.units_per_op():<18} "
            f"{row.bare.units_per_op()}"
        )
    print()
    for line in NOTES:
        print(line)


def measure_row(setup: Setup, counts: Counts, plan: Plan, operation: str, threads: int) -> Row:
    """Ours and bare for one operation and thread count, alternating round by round."""
    print(f"measuring {operation}, {threads} thread(s) ...", file=sys.stderr, flush=True)
    parts: dict[str, list[Measurement]] = {"ours": [], "bare": []}
    size = counts.per_thread_round(threads)
    for round_number in range(counts.rounds):
        numbers = range(round_number * size, (round_number + 1) * size)
        order = ("ours", "bare") if round_number % 2 == 0 else ("bare", "ours")
        for variant in order:
            workload = plan.workloads[operation, variant, threads]
            parts[variant].append(measure(setup.endpoint, threads, numbers, workload))
    ratios = [
        ours.ops_per_second / bare.ops_per_second
        for ours, bare in zip(parts["ours"], parts["bare"], strict=True)
    ]
    return Row(Measurement.total(parts["ours"]), Measurement.total(parts["bare"]), ratios)


def measure_all(setup: Setup, counts: Counts) -> dict[tuple[str, int], Row]:
    """Prepare, warm up (untimed), then measure every operation and thread count."""
    print("preparing accounts ...", file=sys.stderr, flush=True)
    plan = prepare(setup, counts)
    for workload in plan.warm_ups:
        measure(setup.endpoint, 1, range(counts.warm_up), workload)
    return {
        (operation, threads): measure_row(setup, counts, plan, operation, threads)
        for operation in OPERATIONS
        for threads in THREAD_COUNTS
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Throughput of the ledger beside bare boto3.")
    parser.add_argument("--quick", action="store_true", help="smaller counts, same report")
    counts = QUICK if parser.parse_args(argv).quick else FULL
    with dynamodb_endpoint() as (endpoint, where):
        setup = Setup(endpoint, f"crm-points-bench-{uuid.uuid4().hex[:8]}", datetime.now(UTC))
        create_table(client(endpoint), setup.table)
        try:
            rows = measure_all(setup, counts)
        finally:
            client(endpoint).delete_table(TableName=setup.table)
    report(counts, where, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
