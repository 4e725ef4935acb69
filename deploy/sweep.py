"""The reconciliation's sweep: the id of every account, the one read of the whole table.

SPEC §12 allows no Scan in a request, event or schedule path, so the sweep lives here, with
the commands an operator runs on demand (`make reconcile`, `make rebuild-analytics`), and
never in the layer the functions run. It reads in parallel segments at a bounded rate, so
that it never takes the table's capacity from the API (docs/data-model.md).
"""

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import local.paths  # noqa: F401  (puts crm_points on the path, as the layer does in AWS)
from crm_points.dynamo import to_item
from crm_points.ledger_store import ACCOUNT_SK, LedgerStore

# 4 segments of 200 items a request, each segment at most 5 requests a second: 4,000 items
# (at most 2,000 RCU of eventually consistent 1 KB reads) a second at worst, under a tenth
# of an on-demand table's first-day peak (docs/operations.md).
SEGMENTS = 4
PAGE_SIZE = 200
PAUSE_S = 0.2


def every_account(
    store: LedgerStore, pause: float = PAUSE_S, segments: int = SEGMENTS
) -> Iterator[str]:
    """The customer id of every account of the store's table."""

    def segment(number: int) -> list[str]:
        return list(_account_ids(store, number, segments, pause))

    with ThreadPoolExecutor(max_workers=segments) as pool:
        for ids in pool.map(segment, range(segments)):
            yield from ids


def _account_ids(store: LedgerStore, segment: int, segments: int, pause: float) -> Iterator[str]:
    """One segment's accounts: a Scan filtered on the account item, `PAGE_SIZE` items a
    request, `pause` seconds between requests."""
    arguments: dict[str, Any] = {
        "TableName": store.table,
        "Segment": segment,
        "TotalSegments": segments,
        "FilterExpression": "SK = :state",
        "ProjectionExpression": "customerId",
        "ExpressionAttributeValues": to_item({":state": ACCOUNT_SK}),
        "Limit": PAGE_SIZE,
    }
    while True:
        response = store.client.scan(**arguments)
        for item in response.get("Items", []):
            yield item["customerId"]["S"]
        if "LastEvaluatedKey" not in response:
            return
        arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        time.sleep(pause)
