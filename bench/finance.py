"""Finance's reads: the balances export's cost per account at two sizes of ledger, side by
side, and the one Query the roll-forward and the cohorts are answered from.

Run from the repository root: `.venv/bin/python bench/finance.py` (`make bench`), or with
`--quick` for smaller counts. It starts DynamoDB Local in memory (or uses the DynamoDB at
AWS_ENDPOINT_URL_DYNAMODB) and moto's server for SQS and S3, makes a fresh table from
template.yaml per size, and drives the export as its functions do (crm_points.
balances_export, one page task after another, as one worker):

- export: N customers (an award each, a quarter of them in the month exported and the rest
  two months before; every fifth also redeems after the month), then the export of that
  month, whose accounts written since 35 days before its end have their newest entries
  read back: DynamoDB
  requests and read units per account, and accounts per second, at N and at 4 N. The export
  is meant to cost the same per account whatever the number of accounts.
- finance's Query: its pages and bytes after the stream has counted those entries, with the
  months and cohorts of one year.
"""

import argparse
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script: make the shared layer and the repository root importable, as pytest does.
for _path in (ROOT, ROOT / "layers" / "shared"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from crm_points.analytics_store import AnalyticsStore  # noqa: E402
from crm_points.balances_export import BalancesExports  # noqa: E402
from crm_points.config import PointsConfig  # noqa: E402
from crm_points.export_store import ExportFiles, ExportStore  # noqa: E402
from crm_points.ledger_service import PointsService, Request  # noqa: E402
from crm_points.ledger_store import LedgerStore  # noqa: E402
from crm_points.records import Actor  # noqa: E402
from local.aws_services import AwsServices  # noqa: E402
from local.dynamodb_local import client, dynamodb_endpoint  # noqa: E402
from local.template import create_table  # noqa: E402

MONTH = "2026-03"
ADMIN = Actor(user_id="bench", role="ADMIN")


class ListQueue:
    """The export's queue as one worker sees it: the tasks, first in first out."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def send(self, bodies: Sequence[str]) -> None:
        self.bodies.extend(bodies)


@dataclass
class Figures:
    accounts: int
    requests: Counter[str]
    read_units: float
    seconds: float

    @property
    def per_account(self) -> float:
        return sum(self.requests.values()) / self.accounts

    def line(self) -> str:
        calls = ", ".join(f"{name} {count:,}" for name, count in sorted(self.requests.items()))
        units = self.read_units / self.accounts
        rate = self.accounts / self.seconds
        figures = f"{self.accounts:>8,} {self.per_account:>14.3f} {units:>12.3f} {rate:>11,.0f}"
        return f"{figures}  ({calls})"


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def request(moment: datetime) -> Request:
    return Request(ADMIN, f"bench-{uuid.uuid4().hex[:8]}", moment, uuid.uuid4().hex)


def ledger_of(service: PointsService, count: int) -> list[Any]:
    def one(number: int) -> list[Any]:
        customer = f"c-{number:06d}"
        # A quarter of the customers were written in the month exported; the rest two
        # months before, long enough before its end that their balance then is their balance
        # now.
        moment = at(1 + number % 27)
        if number % 4:
            moment -= timedelta(days=59)
        made = service.award(request(moment), customer_id=customer, amount=200, reason="Bench")
        entries = list(made.transactions)
        if number % 5 == 0:
            later = at(28) + timedelta(days=10)
            entries += service.redeem(
                request(later), customer_id=customer, amount=50, reason="Bench"
            ).transactions
        return entries

    with ThreadPoolExecutor(max_workers=8) as pool:
        return [entry for entries in pool.map(one, range(count)) for entry in entries]


def export(endpoint: str, services: AwsServices, count: int) -> tuple[Figures, int]:
    """The export of `count` accounts; and the Query finance reads, in bytes."""
    table = f"crm-points-bench-{uuid.uuid4().hex[:8]}"
    dynamodb = client(endpoint)
    create_table(dynamodb, table, stream=False)
    store = LedgerStore(dynamodb, table)
    service = PointsService(store, PointsConfig(), sleep=lambda _: None)
    analytics = AnalyticsStore(dynamodb, table, sleep=lambda _: None)
    analytics.count_all(ledger_of(service, count))

    s3 = services.client("s3")
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "af-south-1"})
    queue = ListQueue()
    files = ExportFiles(s3, bucket)
    exports = BalancesExports(
        store,
        ExportStore(dynamodb, table),
        queue=lambda: queue,
        files=lambda: files,
        analytics=analytics,
    )
    requests: Counter[str] = Counter()
    units = [0.0]

    def count_request(model: Any, params: dict[str, Any], **_: Any) -> None:
        requests[model.name] += 1
        if model.name in ("Query", "GetItem"):
            params["ReturnConsumedCapacity"] = "TOTAL"

    def count_units(parsed: dict[str, Any], **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity")
        if isinstance(consumed, dict):
            units[0] += float(consumed.get("CapacityUnits", 0))

    dynamodb.meta.events.register("provide-client-params.dynamodb", count_request)
    dynamodb.meta.events.register("after-call.dynamodb.*", count_units)
    started = time.perf_counter()
    now = at(31, 12) + timedelta(days=60)
    job = exports.submit(ADMIN, uuid.uuid4().hex, MONTH, now, Decimal(1)).answer
    while queue.bodies:
        exports.process(queue.bodies.pop(0), datetime.now(UTC))
    seconds = time.perf_counter() - started
    dynamodb.meta.events.unregister("provide-client-params.dynamodb", count_request)
    dynamodb.meta.events.unregister("after-call.dynamodb.*", count_units)
    done = exports.view(job.job_id, datetime.now(UTC))
    assert done.accounts == count, done
    assert done.closing == done.roll_forward_closing, done

    pages: list[int] = []
    dynamodb.meta.events.register(
        "after-call.dynamodb.Query",
        lambda http_response, **_: pages.append(len(http_response.content)),
    )
    analytics.ledger()
    dynamodb.delete_table(TableName=table)
    return Figures(count, requests, units[0], seconds), sum(pages)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer accounts (a smoke run)")
    arguments = parser.parse_args()
    small = 250 if arguments.quick else 1_000
    with dynamodb_endpoint() as endpoint, AwsServices() as services:
        export(endpoint, services, 50)  # warm up
        first, first_bytes = export(endpoint, services, small)
        second, second_bytes = export(endpoint, services, 4 * small)
    print("balances export, one worker (requests and read units per account, accounts/s)")
    print(f"{'accounts':>8} {'requests/acct':>14} {'RCU/acct':>12} {'accounts/s':>11}")
    print(first.line())
    print(second.line())
    print(
        f"\nrequests per account at {4 * small:,} against {small:,}: "
        f"{second.per_account / first.per_account:.2f}x; read units per account: "
        f"{(second.read_units / second.accounts) / (first.read_units / first.accounts):.2f}x"
    )
    print(
        f"finance's Query (roll-forward, cohorts) after counting: {first_bytes / 1024:,.1f} KB "
        f"at {small:,} accounts, {second_bytes / 1024:,.1f} KB at {4 * small:,} (one page each)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
