"""An account's lots and recoverable expiries live in pages, one per calendar quarter: what a
write touches, what a summary reads, the horizon that bounds the pages, and a read that
meets a write half-way (docs/ledger.md, "Account pages")."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest

from crm_points import account_reads
from crm_points.config import PointsConfig
from crm_points.dynamo import to_item
from crm_points.errors import Conflict, ValidationFailed
from crm_points.ledger_service import PointsService
from crm_points.ledger_store import (
    INLINE_LOTS,
    MAX_POSTING_ITEMS,
    LedgerStore,
    account_items,
    customer_pk,
    quarter,
)
from crm_points.transactions import WriteConflict
from crm_points.validation import business_day
from tests.api import CLOCK, call
from tests.conftest import START, RequestCounter, request

DAY = timedelta(days=1)
# Points that keep their own dates: bookings do not move them (no rolling expiry).
DATED = PointsConfig(rolling_expiry=False, validity_days=3650)


@pytest.fixture
def dated(store: LedgerStore) -> PointsService:
    return PointsService(store, DATED, sleep=lambda _: None)


@contextmanager
def transactions(dynamodb: Any) -> Iterator[list[list[dict[str, Any]]]]:
    """The items of every TransactWriteItems made through `dynamodb` meanwhile."""
    seen: list[list[dict[str, Any]]] = []

    def keep(params: dict[str, Any], **_: Any) -> None:
        seen.append(params["TransactItems"])

    event = "provide-client-params.dynamodb.TransactWriteItems"
    dynamodb.meta.events.register(event, keep)
    try:
        yield seen
    finally:
        dynamodb.meta.events.unregister(event, keep)


def roles(items: list[dict[str, Any]]) -> list[str]:
    """What each item of a transaction is, in order: `Put account`, `Delete page`, …"""
    named = []
    for item in items:
        ((action, body),) = item.items()
        key = body["Item"] if action == "Put" else body["Key"]
        pk, sk = key["PK"]["S"], key["SK"]["S"]
        role = (
            "claim"
            if sk == "REQUEST"
            else "account"
            if sk == "STATE"
            else "page"
            if sk.startswith("STATE#")
            else "entry"
            if sk.startswith("LEDGER#")
            else pk.split("#")[0].lower()
        )
        named.append(f"{action} {role}")
    return named


def lots_to_the_horizon(service: PointsService, customer_id: str) -> int:
    """A lot every 30 days, up to the latest expiry there may be: lots in every quarter."""
    days = range(30, 3661, 30)
    for ahead in days:
        service.award(
            request(),
            customer_id=customer_id,
            amount=10,
            reason="Dated",
            expiry_date=START + ahead * DAY,
        )
    return len(days)


def page_keys(dynamodb: Any, table_name: str, customer_id: str) -> list[str]:
    response = dynamodb.query(
        TableName=table_name,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :pages)",
        ExpressionAttributeValues=to_item({":pk": customer_pk(customer_id), ":pages": "STATE#"}),
    )
    return [item["SK"]["S"] for item in response["Items"]]


def test_a_write_to_an_account_with_lots_in_every_quarter_rewrites_one_page(
    dated, customer_id, dynamodb
):
    lots = lots_to_the_horizon(dated, customer_id)
    account = dated.account(customer_id)
    quarters = {quarter(lot.expires_at) for lot in account.lots}
    assert len(account.lots) == lots
    assert len(quarters) >= 40
    with transactions(dynamodb) as seen:
        dated.award(request(), customer_id=customer_id, amount=5, reason="One more")
        dated.complete_booking(
            request(),
            customer_id=customer_id,
            booking_id=f"bk-{customer_id}",
            completed_at=START,
            amount_cents=10_000,
        )
    # The claim (for a booking, its record, and the check that it was not cancelled), the
    # account, the one page the new points joined, the entry: no other page.
    assert [roles(items) for items in seen] == [
        ["Put claim", "Put account", "Put page", "Put entry"],
        ["Put booking", "ConditionCheck booking", "Put account", "Put page", "Put entry"],
    ]
    # No item grows with the lots: the account names its pages, a page holds one quarter.
    assert max(len(str(item)) for item in account_items(dated.account(customer_id))) < 12_000


def test_a_redemption_of_lots_in_every_quarter_is_one_transaction(
    dated, customer_id, dynamodb, table_name
):
    lots = lots_to_the_horizon(dated, customer_id)
    quarters = len(page_keys(dynamodb, table_name, customer_id))
    with transactions(dynamodb) as seen:
        result = dated.redeem(request(), customer_id=customer_id, amount=lots * 10, reason="All")
    ((items,),) = [seen]
    assert len(items) <= MAX_POSTING_ITEMS
    # Every page emptied is deleted in the same transaction.
    assert sum("Delete" in item for item in items) == quarters
    assert len(result.transactions[0].allocations) == lots
    assert page_keys(dynamodb, table_name, customer_id) == []
    account = dated.account(customer_id)
    assert (account.current_balance, account.lots, account.pages) == (0, [], [])


def test_the_summary_lists_two_years_of_lots_and_sums_later_ones_by_quarter(
    dated, store, customer_id, requests: RequestCounter
):
    within = [(10, 1), (40, 1), (70, 1), (100, 1), (130, 1), (160, 1), (200, 2)]
    beyond = [(1000, 4), (1001, 8), (2000, 16)]
    for ahead, amount in within + beyond:  # more lots than an account holds itself
        dated.award(
            request(),
            customer_id=customer_id,
            amount=amount,
            reason="Dated",
            expiry_date=START + ahead * DAY,
        )
    requests.reset()
    summary = account_reads.customer_points(store, customer_id, START, DATED)
    assert requests.calls == {"Query": 1}
    assert summary.current_balance == 36
    assert summary.expiring_balance == 1
    assert [row.amount for row in summary.expiration_schedule] == [1, 1, 1, 1, 1, 1, 2]
    later = [
        (row.quarter, row.amount, row.lots, row.first_expiry_date, row.last_expiry_date)
        for row in summary.later_expirations
    ]
    at = [business_day(START + ahead * DAY) for ahead in (1000, 1001, 2000)]
    assert later == [
        (quarter(START + 1000 * DAY), 12, 2, at[0], at[1]),
        (quarter(START + 2000 * DAY), 16, 1, at[2], at[2]),
    ]
    # The recent entries are there, after the pages the read went through.
    assert len(summary.recent_transactions) == 10


class Tear:
    """Within its `with`, makes Queries see an account's pages one version behind the
    account, as a read would that a write overtook half-way; for the first `times` Queries."""

    def __init__(self, dynamodb: Any, times: int) -> None:
        self.dynamodb = dynamodb
        self.left = times
        self.queries = 0

    def __enter__(self) -> "Tear":
        self.dynamodb.meta.events.register("after-call.dynamodb.Query", self._tear)
        return self

    def __exit__(self, *_: object) -> None:
        self.dynamodb.meta.events.unregister("after-call.dynamodb.Query", self._tear)

    def _tear(self, parsed: dict[str, Any], **_: Any) -> None:
        self.queries += 1
        pages = [item for item in parsed.get("Items", []) if item["SK"]["S"].startswith("STATE#")]
        if pages and self.left:
            self.left -= 1
            for page in pages:
                page["version"] = {"N": str(int(page["version"]["N"]) - 1)}


def test_a_read_that_meets_a_write_half_way_reads_again(dated, store, customer_id, dynamodb):
    for days in range(20, 200, 20):  # nine lots in pages, all within a summary's two years
        expiry = START + days * DAY
        dated.award(request(), customer_id=customer_id, amount=10, reason="Due", expiry_date=expiry)
    whole = store.load_account(customer_id)
    with Tear(dynamodb, times=1) as tear:
        assert store.load_account(customer_id) == whole
    assert tear.queries == 2
    with Tear(dynamodb, times=1) as tear:
        assert (
            account_reads.customer_points(store, customer_id, START, DATED).expiring_balance == 10
        )
    assert tear.queries == 2
    # Torn on every read: a write is refused as a conflict, never made on half an account.
    with Tear(dynamodb, times=100), pytest.raises(WriteConflict):
        store.load_account(customer_id)
    with Tear(dynamodb, times=100), pytest.raises(Conflict):
        account_reads.customer_points(store, customer_id, START, DATED)


def test_an_account_holds_few_lots_itself_and_more_in_pages(
    dated, store, customer_id, dynamodb, table_name
):
    """Up to INLINE_LOTS lots live in the account item (one item per write); one more and
    they move into pages; spent down to that many, the pages are deleted again."""

    def award(days: int) -> None:
        expiry = START + days * DAY
        dated.award(request(), customer_id=customer_id, amount=10, reason="Lot", expiry_date=expiry)

    for lot in range(INLINE_LOTS):
        award(10 + 100 * lot)
    assert page_keys(dynamodb, table_name, customer_id) == []
    with transactions(dynamodb) as seen:
        award(5)
    pages = page_keys(dynamodb, table_name, customer_id)
    assert len(pages) > 1
    assert roles(seen[0]) == ["Put claim", "Put account", *["Put page"] * len(pages), "Put entry"]
    whole = store.load_account(customer_id)
    assert whole is not None
    assert len(whole.lots) == INLINE_LOTS + 1
    with transactions(dynamodb) as seen:
        dated.redeem(request(), customer_id=customer_id, amount=10, reason="One lot's worth")
    assert page_keys(dynamodb, table_name, customer_id) == []
    assert roles(seen[0]) == [
        "Put claim",
        "Put account",
        *["Delete page"] * len(pages),
        "Put entry",
    ]
    assert [lot.remaining_points for lot in store.load_account(customer_id).lots] == [10] * 8


def test_no_lot_may_expire_beyond_the_horizon(dated, customer_id):
    def award(days: int) -> None:
        expiry = START + days * DAY
        dated.award(request(), customer_id=customer_id, amount=1, reason="Day", expiry_date=expiry)

    award(3660)
    with pytest.raises(ValidationFailed):
        award(3661)
    lot = dated.award(request(), customer_id=customer_id, amount=1, reason="Soon").transactions[0]
    assert lot.point_batch_id is not None
    with pytest.raises(ValidationFailed):
        dated.extend_expiry(
            request(),
            point_batch_id=lot.point_batch_id,
            new_expiry_date=START + 3661 * DAY,
            reason="Too far",
        )


def test_the_api_refuses_an_expiry_beyond_the_horizon(lambda_env, customer_id):
    today = business_day(CLOCK())

    def award(days: int) -> Any:
        body = {
            "customerId": customer_id,
            "amount": 1,
            "reason": "Dated",
            "expiryDate": (today + timedelta(days=days)).isoformat(),
        }
        return call("POST", "/api/crm/points/award", body=body)

    assert award(3660).status == 201
    refused = award(3661)
    assert refused.status == 422
    assert refused.body["error"]["details"]["field"] == "expiryDate"


def test_a_page_the_account_does_not_name_is_an_error_not_a_lot_lost(
    dated, store, customer_id, dynamodb, table_name
):
    """A page left by a write of code that kept the lots in the account item (a deployment
    half-way) is not read as a write in flight: the read fails loudly."""
    for days in range(20, 200, 20):  # nine lots: in pages
        expiry = START + days * DAY
        dated.award(request(), customer_id=customer_id, amount=1, reason="Lot", expiry_date=expiry)
    page = page_keys(dynamodb, table_name, customer_id)[0]
    stray = dynamodb.get_item(
        TableName=table_name, Key=to_item({"PK": customer_pk(customer_id), "SK": page})
    )["Item"]
    stray_key = {"PK": stray["PK"], "SK": {"S": "STATE#ACTIVE#2035-Q1"}}
    dynamodb.put_item(TableName=table_name, Item={**stray, **stray_key})
    try:
        with pytest.raises(RuntimeError, match="is not the account's"):
            store.load_account(customer_id)
    finally:  # the table is shared: the daily runs of other tests read every account due
        dynamodb.delete_item(TableName=table_name, Key=stray_key)
