"""What the event side costs: the expiry run per due lot at two table sizes, and the change
stream consumer's records per second.

Run from the repository root: `.venv/bin/python bench/events.py` (`make bench`), or with
`--quick` for smaller tables. It starts DynamoDB Local in memory (or uses the DynamoDB at
AWS_ENDPOINT_URL_DYNAMODB) and moto's server for SQS, SNS, SES and EventBridge, and runs the
real functions of template.yaml through the local stack.

- expiry: tables of accounts with ten lots each, 1% of the lots due (one lot in each of a
  tenth of the accounts); the expire-points function run once the night before and then
  timed. Items read are counted from DynamoDB's answers. The run's cost must follow the lots
  due: the items read per due lot, and the time per due lot, side by side for a table ten
  times larger.
- stream: N awards to N customers, then the local stack's stream consumer run until it has
  caught up (as Lambda's event source mapping would feed the ledger stream function: batches
  of up to 100 records, with the events it puts on the bus relayed), beside reading the same
  records from the stream alone.
"""

import argparse
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script: make the shared layer and the repository root importable, as pytest does.
for _path in (ROOT, ROOT / "layers" / "shared"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


from crm_points.config import PointsConfig  # noqa: E402
from crm_points.ledger_service import PointsService, Request  # noqa: E402
from crm_points.ledger_store import LedgerStore, account_items  # noqa: E402
from crm_points.records import Account, Actor, Lot  # noqa: E402
from crm_points.runtime import runtime  # noqa: E402
from local.aws_services import AwsServices  # noqa: E402
from local.dynamodb_local import (  # noqa: E402
    DynamoDBLocal,
    client,
    endpoint_from_environment,
)
from local.stack import build_stack  # noqa: E402
from local.streams import read_whole_stream  # noqa: E402
from local.template import create_table, load_template  # noqa: E402

DAY = timedelta(days=1)
RUN_AT = datetime(2027, 6, 1, 22, 30, tzinfo=UTC)


def fill_accounts(
    dynamodb: Any, table: str, accounts: int, due_accounts: int, now: datetime
) -> None:
    """`accounts` accounts of ten lots each; one lot of each of the first `due_accounts` is
    due at `now`, every other lot a year later. Written directly (BatchWriteItem: the account
    and its pages, at most 25 items to a request)."""
    written = now - timedelta(days=200)
    batch: list[dict[str, Any]] = []
    for number in range(accounts):
        customer = f"bulk-{number:06d}"
        lots = [
            Lot(
                point_batch_id=f"{customer}-lot-{index}",
                original_points=10,
                remaining_points=10,
                earned_at=written,
                expires_at=now - DAY if index == 0 and number < due_accounts else now + 365 * DAY,
                transaction_id=f"{customer}-tx-{index}",
            )
            for index in range(10)
        ]
        account = Account(
            customer_id=customer,
            current_balance=100,
            lifetime_earned=100,
            lots=lots,
            created_at=written,
            updated_at=written,
        )
        batch.extend({"PutRequest": {"Item": item}} for item in account_items(account))
        if len(batch) >= 23 or number == accounts - 1:
            pending: dict[str, Any] = {table: batch}
            while pending:
                pending = dynamodb.batch_write_item(RequestItems=pending)["UnprocessedItems"]
            batch = []


class ItemsRead:
    """Items a client read, counted from DynamoDB's answers (botocore hooks)."""

    def __init__(self, dynamodb: Any) -> None:
        self.items = 0
        dynamodb.meta.events.register("after-call.dynamodb.Query", self._query)
        dynamodb.meta.events.register("after-call.dynamodb.GetItem", self._get)

    def _query(self, parsed: Any, **_: Any) -> None:
        self.items += int(parsed.get("Count", 0))

    def _get(self, parsed: Any, **_: Any) -> None:
        self.items += 1 if "Item" in parsed else 0


def stack_for(endpoint: str, services: AwsServices, table: str, state: Path) -> Any:
    runtime.cache_clear()
    return build_stack(
        load_template(),
        services=services,
        dynamodb_endpoint=endpoint,
        table_name=table,
        state_dir=state,
        prefix=f"b{uuid.uuid4().hex[:6]}-",
    )


def expiry(endpoint: str, services: AwsServices, accounts: int, state: Path) -> dict[str, float]:
    dynamodb = client(endpoint)
    table = f"bench-expiry-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb, table)
    due = accounts // 10
    fill_accounts(dynamodb, table, accounts, due, RUN_AT)
    stack = stack_for(endpoint, services, table, state)
    stack.scheduler.run("expire-points", RUN_AT - 2 * DAY)  # the night before
    read = ItemsRead(runtime().service.store.client)
    started = time.perf_counter()
    run = stack.scheduler.run("expire-points", RUN_AT)
    seconds = time.perf_counter() - started
    assert run.invocation.succeeded, run.invocation.error()
    changed = run.invocation.result["customersChanged"]
    assert changed == due, (changed, due)
    return {
        "lots": accounts * 10,
        "due": due,
        "items": read.items,
        "items_per_due": read.items / due,
        "ms_per_due": seconds * 1000 / due,
    }


def stream(endpoint: str, services: AwsServices, count: int, state: Path) -> dict[str, float]:
    dynamodb = client(endpoint)
    table = f"bench-stream-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb, table)
    service = PointsService(LedgerStore(dynamodb, table), PointsConfig(), sleep=lambda _: None)
    actor = Actor(user_id="bench", role="MANAGER")
    for number in range(count):
        service.award(
            Request(actor, f"r{number}", RUN_AT, f"bench-{uuid.uuid4().hex}"),
            customer_id=f"stream-{number:06d}",
            amount=100,
            reason="Benchmark",
        )
    started = time.perf_counter()
    records = read_whole_stream(endpoint, table)
    read_seconds = time.perf_counter() - started
    entries = [r for r in records if r["dynamodb"]["NewImage"].get("entity") == {"S": "ENTRY"}]
    stack = stack_for(endpoint, services, table, state)
    started = time.perf_counter()
    drained = stack.event_sources.drain(timeout=3600)
    seconds = time.perf_counter() - started
    assert drained["caughtUp"], drained
    assert drained["processed"]["streamRecords"] == len(entries), drained
    return {
        "records": len(entries),
        "consumer_per_s": len(entries) / seconds,
        "read_per_s": len(records) / read_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller tables")
    quick = parser.parse_args().quick
    sizes = (100, 1_000) if quick else (1_000, 10_000)
    stream_records = 200 if quick else 1_000
    external = endpoint_from_environment()
    with AwsServices() as services, tempfile.TemporaryDirectory() as state:
        local = None if external else DynamoDBLocal().start()
        try:
            endpoint = external or local.endpoint  # type: ignore[union-attr]
            # The stream first: every local stack leaves a rule on the shared points bus,
            # and the expiry's stacks would make each event out cost more.
            flow = stream(endpoint, services, stream_records, Path(state))
            small, large = (expiry(endpoint, services, size, Path(state)) for size in sizes)
        finally:
            if local is not None:
                local.stop()
    print("expiry run (expire-points), 1% of the lots due")
    print(
        f"{'lots':>9} {'due lots':>9} {'items read':>11} {'items/due lot':>14} {'ms/due lot':>11}"
    )
    for row in (small, large):
        print(
            f"{row['lots']:>9,.0f} {row['due']:>9,.0f} {row['items']:>11,.0f} "
            f"{row['items_per_due']:>14.2f} {row['ms_per_due']:>11.2f}"
        )
    print(
        f"ten times the table: {large['items_per_due'] / small['items_per_due']:.2f}x the items "
        f"per due lot, {large['ms_per_due'] / small['ms_per_due']:.2f}x the time per due lot"
    )
    print()
    print(
        "ledger stream consumer (analytics, alert checks, events out), as the local stack runs it"
    )
    print(
        f"{flow['records']:,.0f} records: {flow['consumer_per_s']:,.1f} records/s consumed; "
        f"reading the stream alone {flow['read_per_s']:,.1f} records/s "
        f"({flow['consumer_per_s'] / flow['read_per_s']:.2f}x)"
    )


if __name__ == "__main__":
    main()
