"""A customer's statement: what one month's statement costs against how long the customer's
history is, side by side, and against reading the history back to the month (what a
date filter on the customer's entries would cost).

Run from the repository root: `.venv/bin/python bench/statement.py` (`make bench`), or with
`--quick` for shorter histories. It starts DynamoDB Local in memory (or uses the DynamoDB at
AWS_ENDPOINT_URL_DYNAMODB), makes a fresh table from template.yaml per history, writes a
customer's ledger through the ledger service (an award every day and, every other day, a
redemption of nearly all of it, so the customer holds a lot or two, as most do), then
reads statements as the API's route does
(crm_points.account_reads.customer_statement):

- the statement of the newest month and of the oldest month, with a history of Y years and
  of 4 Y years: DynamoDB requests and read units of each. A statement is meant to cost what
  its month holds, whatever the history around it.
- the same oldest month read by walking the history back from the newest entry (descending
  pages of 100, as a filter on dates would have to): its read units, for contrast.
"""

import argparse
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script: make the shared layer and the repository root importable, as pytest does.
for _path in (ROOT, ROOT / "layers" / "shared"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from crm_points.account_reads import customer_statement  # noqa: E402
from crm_points.config import PointsConfig  # noqa: E402
from crm_points.dynamo import to_item  # noqa: E402
from crm_points.ledger_service import PointsService, Request  # noqa: E402
from crm_points.ledger_store import LedgerStore  # noqa: E402
from crm_points.records import Actor  # noqa: E402
from local.dynamodb_local import client, dynamodb_endpoint  # noqa: E402
from local.template import create_table  # noqa: E402

ADMIN = Actor(user_id="bench", role="ADMIN")
START = datetime(2020, 1, 1, 8, tzinfo=UTC)
CUSTOMER = "bench-statement"


class Meter:
    """The requests and read units of a client's calls while it is on."""

    def __init__(self, dynamodb: Any) -> None:
        self.dynamodb = dynamodb
        self.requests: Counter[str] = Counter()
        self.units = 0.0

    def __enter__(self) -> "Meter":
        self.dynamodb.meta.events.register("provide-client-params.dynamodb", self._ask)
        self.dynamodb.meta.events.register("after-call.dynamodb.*", self._add)
        return self

    def __exit__(self, *_: object) -> None:
        self.dynamodb.meta.events.unregister("provide-client-params.dynamodb", self._ask)
        self.dynamodb.meta.events.unregister("after-call.dynamodb.*", self._add)

    def _ask(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.requests[model.name] += 1
        params["ReturnConsumedCapacity"] = "TOTAL"

    def _add(self, parsed: dict[str, Any], **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity")
        if isinstance(consumed, dict):
            self.units += float(consumed.get("CapacityUnits", 0))

    def line(self, name: str) -> str:
        return f"{name:<28} {sum(self.requests.values()):>9} {self.units:>11.1f}"


def history(service: PointsService, days: int) -> None:
    """An award every day and a redemption of nearly both days' points every other day,
    from START for `days` days."""
    for day in range(days):
        moment = START + timedelta(days=day)
        key = f"{CUSTOMER}:{day}"
        service.award(
            Request(ADMIN, key, moment, f"award:{key}"),
            customer_id=CUSTOMER,
            amount=20,
            reason="Daily visit",
        )
        if day % 2:
            service.redeem(
                Request(ADMIN, key, moment + timedelta(hours=1), f"redeem:{key}"),
                customer_id=CUSTOMER,
                amount=39,
                reason="Treatment",
            )


def walk_back(dynamodb: Any, table: str, until: date) -> None:
    """The customer's entries read newest first, 100 a page, back to the day `until`."""
    arguments: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :entry)",
        "ExpressionAttributeValues": to_item({":pk": f"CUST#{CUSTOMER}", ":entry": "LEDGER#"}),
        "ScanIndexForward": False,
        "ConsistentRead": True,
        "Limit": 100,
    }
    while True:
        page = dynamodb.query(**arguments)
        items = page.get("Items", [])
        if not items or items[-1]["createdAt"]["S"][:10] < until.isoformat():
            return
        if "LastEvaluatedKey" not in page:
            return
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def measure(endpoint: str, years: int) -> list[str]:
    table = f"crm-points-bench-{uuid.uuid4().hex[:8]}"
    dynamodb = client(endpoint)
    create_table(dynamodb, table, stream=False)
    store = LedgerStore(dynamodb, table)
    service = PointsService(store, PointsConfig(), sleep=lambda _: None)
    days = 365 * years
    started = time.perf_counter()
    history(service, days)
    written = time.perf_counter() - started
    newest = (START + timedelta(days=days - 1)).date().replace(day=1)
    oldest = START.date()
    lines = [f"{years} year(s): {days + days // 2:,} entries written in {written:.1f} s"]
    config = PointsConfig()
    for name, first in (("newest month's statement", newest), ("oldest month's statement", oldest)):
        last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        with Meter(dynamodb) as meter:
            report = customer_statement(store, CUSTOMER, first, last, START, config)
        assert report.opening_balance + sum(e.points for e in report.entries) == (
            report.closing_balance
        )
        lines.append(meter.line(name) + f" {len(report.entries):>8}")
    with Meter(dynamodb) as meter:
        walk_back(dynamodb, table, oldest)
    lines.append(meter.line("oldest month, walked back") + f" {'':>8}")
    dynamodb.delete_table(TableName=table)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="shorter histories (a smoke run)")
    arguments = parser.parse_args()
    years = 1
    with dynamodb_endpoint() as endpoint:
        small = measure(endpoint, years)
        large = measure(endpoint, 4 * years if not arguments.quick else 2 * years)
    header = f"{'':<28} {'requests':>9} {'read units':>11} {'entries':>8}"
    for block in (small, large):
        print(block[0])
        print(header)
        print("\n".join(block[1:]))
        print()
    units = [float(line.split()[-2]) for line in (small[2], large[2])]
    print(
        f"oldest month's statement, longer history against shorter: {units[1] / units[0]:.2f}x "
        "read units (it reads its month, not the history)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
