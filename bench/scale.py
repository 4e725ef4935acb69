"""Scale: the frequent customer, the spread of writes over partitions, the stream consumer.

Run from the repository root: `.venv/bin/python bench/scale.py` (`make bench`), or with
`--quick` for smaller counts. It starts DynamoDB Local in memory (or uses the DynamoDB at
AWS_ENDPOINT_URL_DYNAMODB) and moto's server for SQS, SNS, SES and EventBridge.

- frequent customer: 10,000 completed bookings for one customer over a year, with a bonus
  of its own expiry date every 500 bookings, then one redemption of the whole balance; with
  rolling expiry (the default: one lot), and without it and a validity of ten years (a lot
  per day of bookings, in pages by quarter). Time and write units per earn over the first
  and the last 500, the largest item written, the lots held at the end, and the size of an
  item that would hold them all.
- partition spread: a mixed workload over 1,000 customers (bookings, awards, redemptions,
  the expiry and reminder runs, the stream consumer's counting), with every write's items
  tallied, per partition key value of the table and of each index it lands in (a GSI is
  written when the item's index keys change, or when an ALL-projected item changes; a key
  that moves costs a delete on the old value too). The hottest key value's share of the
  write units, per table and index and overall.
- stream consumer: DynamoDB requests per record and records per second, 2,000 entries
  handed to the ledger stream function a hundred at a time, alternately one record to an
  invocation (as the consumer was before it worked in batches) and all hundred in one batch,
  so that both ways see the same machine.
"""

import argparse
import math
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script: make the shared layer and the repository root importable, as pytest does.
for _path in (ROOT, ROOT / "layers" / "shared"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from bench.events import stack_for  # noqa: E402
from crm_points.config import PointsConfig  # noqa: E402
from crm_points.daily_runs import expire_points, send_expiring_reminders  # noqa: E402
from crm_points.dynamo import to_item  # noqa: E402
from crm_points.ledger_service import PointsService, Request  # noqa: E402
from crm_points.ledger_store import LedgerStore, ScheduleStore, account_items  # noqa: E402
from crm_points.records import Actor  # noqa: E402
from crm_points.runtime import runtime  # noqa: E402
from local.aws_services import AwsServices  # noqa: E402
from local.dynamodb_local import DynamoDBLocal, client, endpoint_from_environment  # noqa: E402
from local.functions import Function, environment_set  # noqa: E402
from local.stack import LocalStack  # noqa: E402
from local.streams import read_whole_stream  # noqa: E402
from local.template import create_table, load_template  # noqa: E402

START = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
MANAGER = Actor(user_id="bench", role="MANAGER")
SYSTEM = Actor(user_id="system")


def request(now: datetime, actor: Actor = MANAGER) -> Request:
    return Request(actor, f"r-{uuid.uuid4().hex[:8]}", now, f"bench-{uuid.uuid4().hex}")


def new_table(dynamodb: Any, name: str) -> str:
    table = f"bench-{name}-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb, table)
    return table


# -- item sizes and write units -------------------------------------------------------------


def attribute_size(value: dict[str, Any]) -> int:
    """DynamoDB's size of a typed value: UTF-8 bytes of strings, about a byte per two digits
    of numbers, 3 bytes of overhead per map or list plus its elements and names."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return 1 + math.ceil(len(inner.lstrip("-")) / 2)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(item.encode()) for item in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_size(item) for item in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + attribute_size(v) for k, v in inner.items())
    raise TypeError(kind)


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def write_units(size: int, transactional: bool) -> int:
    return max(1, math.ceil(size / 1024)) * (2 if transactional else 1)


# -- the frequent customer ------------------------------------------------------------------


@dataclass
class UnitMeter:
    """Write units DynamoDB reports per write request (ReturnConsumedCapacity), and the
    largest item written."""

    units: list[float] = field(default_factory=list)
    largest: int = 0

    def attach(self, dynamodb: Any) -> None:
        events = dynamodb.meta.events
        events.register("provide-client-params.dynamodb.TransactWriteItems", self._ask)
        events.register("after-call.dynamodb.TransactWriteItems", self._record)

    def _ask(self, params: dict[str, Any], **_: Any) -> None:
        params["ReturnConsumedCapacity"] = "TOTAL"
        for operation in params["TransactItems"]:
            if "Put" in operation:
                self.largest = max(self.largest, item_size(operation["Put"]["Item"]))

    def _record(self, parsed: dict[str, Any], **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity") or []
        self.units.append(sum(float(record.get("CapacityUnits", 0)) for record in consumed))


# Points that keep their own dates for ten years: every day of bookings is a lot of its own.
DATED = PointsConfig(rolling_expiry=False, validity_days=3650)


def frequent_customer(endpoint: str, bookings: int, config: PointsConfig) -> dict[str, float]:
    dynamodb = client(endpoint)
    table = new_table(dynamodb, "frequent")
    meter = UnitMeter()
    meter.attach(dynamodb)
    service = PointsService(LedgerStore(dynamodb, table), config, sleep=lambda _: None)
    customer = "frequent-customer"
    every = timedelta(days=365) / bookings
    window = min(500, bookings // 4)
    seconds: list[float] = []
    earns: list[float] = []
    for number in range(bookings):
        moment = START + number * every
        started = time.perf_counter()
        service.complete_booking(
            request(moment, SYSTEM),
            customer_id=customer,
            booking_id=f"B-{uuid.uuid4().hex[:12]}",
            completed_at=moment,
            amount_cents=10_000,
        )
        seconds.append(time.perf_counter() - started)
        earns.append(meter.units[-1])
        if number % 500 == 250:
            service.award(
                request(moment),
                customer_id=customer,
                amount=50,
                reason="Bonus with a date of its own",
                expiry_date=moment + timedelta(days=400 + number // 50),
            )
    account = service.account(customer)
    balance = account.current_balance
    started = time.perf_counter()
    redemption = service.redeem(
        request(START + timedelta(days=366)),
        customer_id=customer,
        amount=balance,
        reason="Everything at once",
    )
    redeem_seconds = time.perf_counter() - started
    # The same lots as one item, as the account held them before pages.
    lots = [lot.model_dump(mode="json", by_alias=True, exclude_none=True) for lot in account.lots]
    one_item = item_size(account_items(account)[0]) + item_size(to_item({"lots": lots}))
    return {
        "bookings": bookings,
        "rolling": config.rolling_expiry,
        "validity": config.validity_days,
        "pages": len(account.pages),
        "one_item_kb": one_item / 1024,
        "one_item_wcu": write_units(one_item, transactional=True),
        "lots": len(account.lots),
        "balance": balance,
        "ms_start": 1000 * sum(seconds[:window]) / window,
        "ms_end": 1000 * sum(seconds[-window:]) / window,
        "wcu_start": sum(earns[:window]) / window,
        "wcu_end": sum(earns[-window:]) / window,
        "largest_kb": meter.largest / 1024,
        "redeem_ms": 1000 * redeem_seconds,
        "redeem_wcu": meter.units[-1],
        "allocations": len(redemption.transactions[0].allocations),
    }


# -- the partition spread -------------------------------------------------------------------


@dataclass
class PartitionTally:
    """Write units per partition key value, of the table and of each index, from the items
    every write request carries (and the items as last written, to see what an index gets)."""

    indexes: dict[str, tuple[str, str]]  # index name -> (hash key attribute, projection)
    units: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def for_template(cls) -> "PartitionTally":
        table = load_template()["Resources"]["PointsTable"]["Properties"]
        indexes = {
            index["IndexName"]: (
                next(k["AttributeName"] for k in index["KeySchema"] if k["KeyType"] == "HASH"),
                index["Projection"]["ProjectionType"],
            )
            for index in table["GlobalSecondaryIndexes"]
        }
        return cls(indexes)

    def attach(self, dynamodb: Any) -> None:
        dynamodb.meta.events.register("provide-client-params.dynamodb", self._on_call)

    def _on_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        name = model.name
        if name == "TransactWriteItems":
            for operation in params["TransactItems"]:
                if "Put" in operation:
                    self._put(operation["Put"]["Item"], transactional=True)
                elif "Update" in operation:
                    self._update(operation["Update"]["Key"], transactional=True)
                elif "Delete" in operation:
                    self._delete(operation["Delete"]["Key"])
        elif name == "PutItem":
            self._put(params["Item"], transactional=False)
        elif name == "UpdateItem":
            self._update(params["Key"], transactional=False)
        elif name == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                for one in requests:
                    if "PutRequest" in one:
                        self._put(one["PutRequest"]["Item"], transactional=False)

    def _update(self, key: dict[str, Any], transactional: bool) -> None:
        # The updates here are the small ADDs of the aggregates and marks (no index keys).
        self.units["table"][key["PK"]["S"]] += write_units(300, transactional)

    def _delete(self, key: dict[str, Any]) -> None:
        # The deletes here are of an account's emptied pages (no index keys), in transactions.
        gone = self.items.pop((key["PK"]["S"], key["SK"]["S"]), {})
        self.units["table"][key["PK"]["S"]] += write_units(item_size(gone), transactional=True)

    def _put(self, item: dict[str, Any], transactional: bool) -> None:
        key = (item["PK"]["S"], item["SK"]["S"])
        before = self.items.get(key, {})
        self.items[key] = item
        size = item_size(item)
        self.units["table"][key[0]] += write_units(size, transactional)
        for index, (hash_key, projection) in self.indexes.items():
            old, new = before.get(hash_key, {}).get("S"), item.get(hash_key, {}).get("S")
            changed = before != item if projection == "ALL" else _index_keys_moved(before, item)
            if new is not None and (old != new or changed):
                projected = size if projection == "ALL" else 100
                self.units[index][new] += write_units(projected, False)
            if old is not None and old != new:
                self.units[index][old] += 1  # the old index entry is deleted

    def report(self) -> list[tuple[str, int, int, str, float]]:
        """(table or index, key values, write units, hottest value, its share), and overall."""
        rows = []
        overall: Counter[str] = Counter()
        for where, counts in sorted(self.units.items()):
            total = sum(counts.values())
            hottest, units = counts.most_common(1)[0]
            rows.append((where, len(counts), total, hottest, units / total))
            overall.update({f"{where}:{value}": n for value, n in counts.items()})
        total = sum(overall.values())
        hottest, units = overall.most_common(1)[0]
        rows.append(("all", len(overall), total, hottest, units / total))
        return rows


def _index_keys_moved(before: dict[str, Any], after: dict[str, Any]) -> bool:
    names = ("expiryShard", "expirySort", "reminderShard", "reminderSort", "pointBatchId")
    return any(before.get(name) != after.get(name) for name in names)


def partition_spread(
    endpoint: str, services: AwsServices, customers: int, state: Path
) -> list[tuple[str, int, int, str, float]]:
    dynamodb = client(endpoint)
    table = new_table(dynamodb, "spread")
    tally = PartitionTally.for_template()
    tally.attach(dynamodb)
    service = PointsService(LedgerStore(dynamodb, table), PointsConfig(), sleep=lambda _: None)
    ids = [f"cust-{number:05d}" for number in range(customers)]
    for number, customer in enumerate(ids):
        moment = START + timedelta(seconds=number * 40)
        for visit in range(3):
            completed = moment + timedelta(hours=visit * 7)
            service.complete_booking(
                request(completed, SYSTEM),
                customer_id=customer,
                booking_id=f"{customer}-{visit}",
                completed_at=completed,
                amount_cents=25_000 + 1_000 * visit,
            )
        if number % 3 == 0:
            service.award(
                request(moment),
                customer_id=customer,
                amount=100,
                reason="Bonus",
                expiry_date=moment + timedelta(days=10),
            )
        if number % 2 == 0:
            service.redeem(request(moment), customer_id=customer, amount=120, reason="Voucher")
    schedules = ScheduleStore(dynamodb, table)
    send_expiring_reminders(service, schedules, START + timedelta(days=2))
    expire_points(service, schedules, START + timedelta(days=13), "bench-run")
    stack, _, function_client = stream_function(endpoint, services, table, state)
    tally.attach(function_client)
    drained = stack.event_sources.drain(timeout=3600)
    assert drained["caughtUp"], drained
    runtime.cache_clear()
    return tally.report()


# -- the stream consumer --------------------------------------------------------------------


def stream_function(
    endpoint: str, services: AwsServices, table: str, state: Path
) -> tuple[LocalStack, Function, Any]:
    """The local stack on `table`, its ledger stream function loaded (a warm function: its
    configuration read), and that function's DynamoDB client."""
    stack = stack_for(endpoint, services, table, state)
    function = stack.functions["LedgerStreamFunction"]
    stack.runner.module(function)
    with environment_set(stack.runner.environment_of(function)):
        dynamodb = runtime().service.store.client
        assert runtime().service.config is not None
    return stack, function, dynamodb


@contextmanager
def counted(dynamodb: Any) -> Iterator[Counter[str]]:
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    dynamodb.meta.events.register("before-call.dynamodb", count)
    try:
        yield calls
    finally:
        dynamodb.meta.events.unregister("before-call.dynamodb", count)


def stream_consumer(
    endpoint: str, services: AwsServices, records: int, state: Path
) -> tuple[dict[str, float], dict[str, float]]:
    """`records` awards (a quarter of them with notifyCustomer and a profile) handed to the
    stream function, a hundred at a time alternately one record to an invocation and all in
    one batch, so that both ways see the same machine; (one at a time, batched)."""
    dynamodb = client(endpoint)
    table = new_table(dynamodb, "stream")
    service = PointsService(LedgerStore(dynamodb, table), PointsConfig(), sleep=lambda _: None)
    for number in range(records):
        service.award(
            request(START),
            customer_id=f"stream-{number:06d}",
            amount=100,
            reason="Benchmark",
            notify_customer=number % 4 == 0,
        )
    stream = [
        r
        for r in read_whole_stream(endpoint, table)
        if r["dynamodb"]["NewImage"].get("entity") == {"S": "ENTRY"}
    ]
    stack, function, function_client = stream_function(endpoint, services, table, state)
    totals = {size: {"records": 0.0, "requests": 0.0, "seconds": 0.0} for size in (1, 100)}
    for round_number, first in enumerate(range(0, len(stream), 100)):
        hundred = stream[first : first + 100]
        size = 1 if round_number % 2 == 0 else 100
        with counted(function_client) as calls:
            started = time.perf_counter()
            for start in range(0, len(hundred), size):
                part = hundred[start : start + size]
                invocation = stack.runner.invoke(function, {"Records": part})
                assert invocation.result == {"batchItemFailures": []}, invocation.result
            totals[size]["seconds"] += time.perf_counter() - started
        totals[size]["records"] += len(hundred)
        totals[size]["requests"] += sum(calls.values())
    runtime.cache_clear()
    one, batched = (
        {
            "records": totals[size]["records"],
            "requests_per_record": totals[size]["requests"] / totals[size]["records"],
            "records_per_s": totals[size]["records"] / totals[size]["seconds"],
        }
        for size in (1, 100)
    )
    return one, batched


def print_stream(one: dict[str, float], hundred: dict[str, float]) -> None:
    print(
        f"stream consumer: {one['records'] + hundred['records']:,.0f} entries, a hundred at a "
        "time alternately"
    )
    print(f"{'':22}{'DynamoDB requests/record':>26}{'records/s':>11}")
    for name, row in (("one record at a time", one), ("100 to a batch", hundred)):
        print(f"{name:22}{row['requests_per_record']:>26.3f}{row['records_per_s']:>11.1f}")
    print(
        f"batched: {one['requests_per_record'] / hundred['requests_per_record']:.1f}x fewer "
        f"requests, {hundred['records_per_s'] / one['records_per_s']:.1f}x the records/s\n",
        flush=True,
    )


def print_spread(customers: int, spread: list[tuple[str, int, int, str, float]]) -> None:
    print(f"partition spread: mixed workload over {customers:,} customers")
    print(f"{'table / index':28}{'key values':>11}{'WCU':>9}  {'hottest key value':28}{'share':>7}")
    for where, values, units, hottest, share in spread:
        print(f"{where:28}{values:>11,}{units:>9,}  {hottest[:28]:28}{share:>7.1%}")
    print(f"(goal: no key value above 1/16 = {1 / 16:.1%} of the write units)\n", flush=True)


def print_frequent(f: dict[str, float]) -> None:
    rolling = "rolling expiry" if f["rolling"] else "no rolling expiry"
    print(
        f"frequent customer: {f['bookings']:,.0f} bookings in a year, then one redemption "
        f"({rolling}, validity {f['validity']:,.0f} days)"
    )
    print(f"{'':14}{'first 500':>12}{'last 500':>12}{'ratio':>8}")
    for name, start, end in (
        ("ms per earn", f["ms_start"], f["ms_end"]),
        ("WCU per earn", f["wcu_start"], f["wcu_end"]),
    ):
        print(f"{name:14}{start:>12.2f}{end:>12.2f}{end / start:>8.2f}")
    print(
        f"lots held at the end {f['lots']:,.0f} in {f['pages']:,.0f} pages; largest item "
        f"written {f['largest_kb']:.2f} KB (the lots as one item: {f['one_item_kb']:.1f} KB, "
        f"{f['one_item_wcu']:,.0f} WCU a write); redemption of the whole balance "
        f"({f['balance']:,.0f} points): one transaction, {f['allocations']:,.0f} allocations, "
        f"{f['redeem_wcu']:.0f} WCU, {f['redeem_ms']:.1f} ms\n",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument("--only", choices=("stream", "spread", "frequent"), help="one part")
    arguments = parser.parse_args()
    quick, only = arguments.quick, arguments.only
    bookings, customers, records = (2_000, 200, 400) if quick else (10_000, 1_000, 2_000)
    external = endpoint_from_environment()
    with AwsServices() as services, tempfile.TemporaryDirectory() as state:
        local = None if external else DynamoDBLocal().start()
        try:
            endpoint = external or local.endpoint  # type: ignore[union-attr]
            # Each part prints as soon as it is measured.
            if only in (None, "stream"):
                print_stream(*stream_consumer(endpoint, services, records, Path(state) / "s"))
            if only in (None, "spread"):
                spread = partition_spread(endpoint, services, customers, Path(state) / "spread")
                print_spread(customers, spread)
            if only in (None, "frequent"):
                print_frequent(frequent_customer(endpoint, bookings, PointsConfig()))
                print_frequent(frequent_customer(endpoint, bookings, DATED))
        finally:
            if local is not None:
                local.stop()


if __name__ == "__main__":
    main()
