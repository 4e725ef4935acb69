"""Analytics on DynamoDB Local (SPEC §9): real ledger writes counted into the aggregates
exactly once (again, shuffled, concurrently), and the route answering the month's figures
and points flow, worked out by hand in tests/unit/test_analytics.py, with one request."""

import json
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_points.analytics import effect_of
from crm_points.analytics_store import (
    ANALYTICS_PK,
    MAX_ATTEMPTS,
    TTL_ATTRIBUTE,
    AnalyticsStore,
    marker_pk,
    month_sk,
)
from crm_points.dynamo import from_item
from crm_points.errors import Conflict
from crm_points.ledger_service import PointsService
from crm_points.records import LedgerEntry, TransactionType
from crm_points.validation import month_of
from local.template import load_template
from tests.api import CLOCK, ROOT, LambdaContext, call, handler
from tests.conftest import request
from tests.integration.conftest import table_of_its_own
from tests.integration.test_faults import error_response
from tests.unit.test_analytics import APRIL_FIGURES, MARCH_FIGURES, NO_FLOW, SCENARIO

E = TransactionType
ROUTE = "/api/crm/points/analytics"


@pytest.fixture
def table_name(dynamodb_endpoint: str) -> Iterator[str]:
    """A table of this test's own: the aggregates are table-wide."""
    with table_of_its_own(dynamodb_endpoint, "analytics") as name:
        yield name


@pytest.fixture
def analytics(dynamodb: Any, table_name: str) -> AnalyticsStore:
    return AnalyticsStore(dynamodb, table_name, sleep=lambda _: None)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def run_scenario(service: PointsService) -> list[LedgerEntry]:
    """tests/unit/test_analytics.py's scenario, made by the ledger itself."""
    entries: list[LedgerEntry] = []

    def keep(result: Any) -> None:
        assert result is not None
        entries.extend(result.transactions)

    def award(customer: str, amount: int, when: str, expiry: str | None = None) -> None:
        keep(
            service.award(
                request(at(when)),
                customer_id=customer,
                amount=amount,
                reason="Bonus",
                expiry_date=at(expiry) if expiry else None,
            )
        )

    def booking(customer: str, booking_id: str, cents: int, when: str) -> None:
        keep(
            service.complete_booking(
                request(at(when)),
                customer_id=customer,
                booking_id=booking_id,
                completed_at=at(when),
                amount_cents=cents,
            )
        )

    def redeem(customer: str, amount: int, when: str, booking_id: str | None = None) -> None:
        keep(
            service.redeem(
                request(at(when)),
                customer_id=customer,
                amount=amount,
                reason="Paid with points",
                booking_id=booking_id,
            )
        )

    def expire(customer: str, when: str) -> None:
        keep(service.expire(customer_id=customer, now=at(when), request_id="expiry-run"))

    # March
    award("A", 1_000, "2026-03-02T08:00:00")
    booking("A", "b1", 50_000, "2026-03-03T08:00:00")
    booking("B", "b2", 30_000, "2026-03-04T08:00:00")
    redeem("A", 400, "2026-03-05T08:00:00", "b3")
    redeem("B", 300, "2026-03-06T08:00:00")
    award("C", 200, "2026-03-07T08:00:00", expiry="2026-03-31T21:00:00")
    award("F", 50, "2026-03-08T08:00:00", expiry="2026-04-10T08:00:00")
    keep(
        service.reverse_booking(
            request(at("2026-03-09T08:00:00")),
            customer_id="B",
            booking_id="b2",
            reason="Booking cancelled",
        )
    )
    keep(
        service.deduct(
            request(at("2026-03-20T08:00:00")), customer_id="A", amount=100, reason="Correction"
        )
    )
    expire("C", "2026-03-31T21:59:59.999")
    # April (Africa/Johannesburg): the first booking is at 00:30 on 1 April there.
    booking("B", "b5", 50_000, "2026-03-31T22:30:00")
    redeem("A", 237, "2026-04-02T08:00:00", "b6")
    expire("F", "2026-04-10T22:00:00")
    award("C", 333, "2026-04-11T08:00:00")
    booking("D", "b7", 16_700, "2026-04-12T08:00:00")
    booking("E", "b8", 10_000, "2026-04-13T08:00:00")
    lot = next(e.point_batch_id for e in entries if e.customer_id == "A" and e.type is E.AWARD)
    assert lot is not None
    keep(
        service.extend_expiry(
            request(at("2026-04-14T08:00:00")),
            point_batch_id=lot,
            new_expiry_date=at("2028-01-01T00:00:00"),
            reason="Loyal customer",
        )
    )
    expired = next(e for e in entries if e.customer_id == "F" and e.type is E.EXPIRE)
    keep(
        service.recover_expired(
            request(at("2026-04-15T08:00:00")),
            transaction_id=expired.transaction_id,
            reason="Goodwill",
            new_expiry_date=at("2027-01-01T00:00:00"),
        )
    )

    def shape(entry: LedgerEntry) -> tuple[Any, ...]:
        return (entry.customer_id, entry.type, entry.points, entry.balance_after, entry.booking_id)

    # The ledger made exactly the entries the figures were worked out from (SCENARIO lists
    # the DEDUCT after the expiry; the order does not change the figures).
    assert sorted(map(shape, entries), key=str) == sorted(map(shape, SCENARIO), key=str)
    return entries


def changes_nothing(entry: LedgerEntry) -> bool:
    return effect_of(entry).totals.is_empty


def figures(month: str) -> Any:
    answer = call("GET", ROUTE, query={"month": month})
    assert answer.status == 200, answer.body
    return answer.body


def test_entries_counted_once_answer_the_hand_computed_figures(
    lambda_env, service, analytics, dynamodb, table_name
):
    entries = run_scenario(service)
    added = [analytics.count(entry) for entry in entries]
    # Every entry is counted, except the one that changes no figure: the EXPIRY_EXTENDED.
    assert added == [not changes_nothing(entry) for entry in entries]
    assert [entry.type for entry in entries if changes_nothing(entry)] == [E.EXPIRY_EXTENDED]
    assert not any(analytics.count(entry) for entry in entries), "counted again"

    lambda_env.reset()
    assert figures("2026-04") == APRIL_FIGURES
    assert lambda_env.calls == Counter({"Query": 1})
    # A past month is as at its end, whatever happened since.
    assert figures("2026-03") == MARCH_FIGURES

    # No entry since April: the liability stays, nothing moved this month.
    current = call("GET", ROUTE)
    assert current.status == 200, current.body
    assert current.body["month"] == month_of(CLOCK())
    assert current.body["pointsLiability"] == {
        "totalOutstanding": 1613,
        "monthlyGrowth": 0.0,
        "redemptionCost": 0,
    }
    assert current.body["customerEngagement"]["activePointsUsers"] == 6
    assert current.body["pointsFlow"] == NO_FLOW


def test_the_flow_is_the_ledgers_own_entries_summed_by_kind(lambda_env, service, analytics):
    entries = run_scenario(service)
    for entry in entries:
        analytics.count(entry)
    kinds = {"earned": E.EARN, "awarded": E.AWARD, "redeemed": E.REDEEM, "expired": E.EXPIRE}
    for month in ("2026-03", "2026-04"):
        mine = [entry for entry in entries if month_of(entry.created_at) == month]
        assert figures(month)["pointsFlow"] == {
            name: sum(abs(entry.points) for entry in mine if entry.type is kind)
            for name, kind in kinds.items()
        }


def test_a_month_counted_before_the_awarded_figure_existed_reads_it_as_0(
    lambda_env, dynamodb, table_name
):
    dynamodb.put_item(
        TableName=table_name,
        Item={
            "PK": {"S": ANALYTICS_PK},
            "SK": {"S": month_sk("2026-04")},
            "entity": {"S": "ANALYTICS_MONTH"},
            "month": {"S": "2026-04"},
            "liabilityChange": {"N": "900"},
            "activeUsersChange": {"N": "2"},
            "pointsRedeemed": {"N": "100"},
            "pointsExpired": {"N": "0"},
            "pointsEarned": {"N": "1000"},
            "bookingsCompleted": {"N": "2"},
            "pointsInfluencedBookings": {"N": "1"},
        },
    )
    assert figures("2026-04")["pointsFlow"] == {
        "earned": 1000,
        "awarded": 0,
        "redeemed": 100,
        "expired": 0,
    }


def test_redelivered_and_shuffled_entries_count_once(lambda_env, service, analytics):
    entries = run_scenario(service)
    deliveries = entries * 3
    random.Random(11).shuffle(deliveries)
    added = Counter(entry.transaction_id for entry in deliveries if analytics.count(entry))
    assert all(count == 1 for count in added.values())
    assert len(added) == len(entries) - 1  # the EXPIRY_EXTENDED changes no figure
    assert figures("2026-04") == APRIL_FIGURES
    assert figures("2026-03") == MARCH_FIGURES


def test_concurrent_counts_of_the_same_entries_count_each_once(lambda_env, service, analytics):
    entries = run_scenario(service)

    def deliver(seed: int) -> list[str]:
        mine = list(entries)
        random.Random(seed).shuffle(mine)
        return [entry.transaction_id for entry in mine if analytics.count(entry)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(deliver, range(8)))
    added = Counter(transaction_id for result in results for transaction_id in result)
    assert set(added.values()) == {1}
    assert len(added) == len(entries) - 1  # the EXPIRY_EXTENDED changes no figure
    assert figures("2026-04") == APRIL_FIGURES
    assert figures("2026-03") == MARCH_FIGURES


def test_markers_expire_and_are_not_the_stream_consumers_business(
    service, analytics, dynamodb, table_name
):
    entry = run_scenario(service)[0]
    before = datetime.now(UTC)
    assert analytics.count(entry)
    marker = from_item(
        dynamodb.get_item(
            TableName=table_name,
            Key={"PK": {"S": marker_pk(entry.transaction_id)}, "SK": {"S": "COUNTED"}},
        )["Item"]
    )
    expires = datetime.fromtimestamp(marker[TTL_ATTRIBUTE], UTC)
    assert timedelta(days=30) - timedelta(seconds=5) <= expires - before <= timedelta(days=31)
    ttl = load_template()["Resources"]["PointsTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}

    aggregates = dynamodb.query(
        TableName=table_name,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "ANALYTICS"}},
    )["Items"]
    entities = {from_item(item)["entity"] for item in aggregates} | {marker["entity"]}
    assert entities == {
        "ANALYTICS_MONTH",
        "ANALYTICS_TOTAL",
        "ANALYTICS_COUNTED",
        "ANALYTICS_COHORT",
    }


def test_the_route_of_an_empty_table_answers_zeros(lambda_env):
    answer = call("GET", ROUTE, query={"month": "2026-04"})
    assert answer.status == 200, answer.body
    assert answer.body["pointsLiability"] == {
        "totalOutstanding": 0,
        "monthlyGrowth": None,
        "redemptionCost": 0,
    }
    assert answer.body["pointsFlow"] == NO_FLOW


@pytest.mark.parametrize(
    "month", ["2026-13", "2026-4", "26-04", "April", "2026-04-01", "1969-12", "9999-12", ""]
)
def test_a_malformed_or_future_month_is_a_422(lambda_env, month):
    answer = call("GET", ROUTE, query={"month": month})
    assert (answer.status, answer.code) == (422, "VALIDATION_ERROR"), answer.body


def test_next_month_is_a_422_naming_the_field(lambda_env):
    now = CLOCK() + timedelta(days=40)
    answer = call("GET", ROUTE, query={"month": now.strftime("%Y-%m")})
    assert (answer.status, answer.code) == (422, "VALIDATION_ERROR"), answer.body
    assert answer.body["error"]["details"]["field"] == "month"


class Conflicting:
    """Answers the next `times` TransactWriteItems with a TransactionConflict cancellation,
    as DynamoDB does when another transaction is updating the same item."""

    def __init__(self, dynamodb: Any, times: int) -> None:
        self.left = times
        self.dynamodb = dynamodb
        dynamodb.meta.events.register("before-send.dynamodb.TransactWriteItems", self._send)

    def _send(self, **_: Any) -> Any:
        if self.left == 0:
            return None
        self.left -= 1
        reasons = [{"Code": "None"}, {"Code": "TransactionConflict", "Message": "conflict"}]
        return error_response(400, "TransactionCanceledException", CancellationReasons=reasons)

    def remove(self) -> None:
        self.dynamodb.meta.events.unregister("before-send.dynamodb.TransactWriteItems", self._send)


def test_a_count_that_meets_concurrent_transactions_tries_again(
    lambda_env, service, analytics, dynamodb
):
    entries = run_scenario(service)
    conflicts = Conflicting(dynamodb, times=3)
    try:
        assert analytics.count(entries[0])
    finally:
        conflicts.remove()
    assert conflicts.left == 0
    for entry in entries:
        analytics.count(entry)
    assert figures("2026-04") == APRIL_FIGURES


def test_a_count_that_keeps_conflicting_gives_up_retryable_and_adds_nothing(
    lambda_env, service, analytics, dynamodb
):
    entries = run_scenario(service)
    conflicts = Conflicting(dynamodb, times=MAX_ATTEMPTS)
    try:
        with pytest.raises(Conflict) as busy:
            analytics.count(entries[0])
    finally:
        conflicts.remove()
    assert busy.value.retryable
    # The stream delivers the batch again: then it counts.
    for entry in entries:
        analytics.count(entry)
    assert figures("2026-04") == APRIL_FIGURES


def test_the_sample_event_is_answered_as_api_gateway_would_deliver_it(
    lambda_env, service, analytics
):
    for entry in run_scenario(service):
        analytics.count(entry)
    event = json.loads((ROOT / "events" / "get_points_analytics.json").read_text())
    event["queryStringParameters"] = {"month": "2026-04"}
    event["rawQueryString"] = "month=2026-04"
    lambda_env.reset()
    response = handler("points_analytics").lambda_handler(event, LambdaContext())
    assert (response["statusCode"], json.loads(response["body"])) == (200, APRIL_FIGURES)
    assert lambda_env.calls == Counter({"Query": 1})


def test_entries_of_many_months_are_counted_in_transactions_of_at_most_100_items(
    analytics, dynamodb, requests
):
    """A batch whose entries fall in many months (a replay of old records, say) still fits
    DynamoDB's 100 items a transaction: a marker per entry and an update per month."""
    entries = [
        LedgerEntry(
            transaction_id=f"tx-{uuid.uuid4().hex}",
            customer_id=f"c-{number}",
            sequence=1,
            type=E.AWARD,
            points=10,
            balance_after=10,
            description="Bonus",
            reason="Bonus",
            actor={"userId": "m"},
            created_at=datetime(2020, 1, 15, tzinfo=UTC) + timedelta(days=31 * (number % 60)),
            request_id="r",
        )
        for number in range(150)
    ]
    sizes: list[int] = []
    dynamodb.meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems",
        lambda params, **_: sizes.append(len(params["TransactItems"])),
    )
    assert analytics.count_all(entries) == 150
    assert max(sizes) <= 100, sizes
    assert len(sizes) >= 2
    assert analytics.count_all(entries) == 0  # each counted once
    months = {month_of(entry.created_at) for entry in entries}
    counted = {
        month: analytics.analytics(month, datetime(2026, 1, 1, tzinfo=UTC)).points_flow.awarded
        for month in months
    }
    assert sum(counted.values()) == 1_500


def test_an_entry_that_moves_many_cohorts_spreads_them_over_the_shards(
    analytics, dynamodb, requests
):
    """An expiry of a lot that gathered points of 250 issue months changes 250 cohort lines
    in one month: more than one update expression holds, so they go to three shards of the
    month's cohort items, in the entry's one transaction."""
    months = [f"{2000 + n // 12:04d}-{n % 12 + 1:02d}" for n in range(250)]
    expiry = LedgerEntry(
        transaction_id=f"tx-{uuid.uuid4().hex}",
        customer_id="c-old",
        sequence=9,
        type=E.EXPIRE,
        points=-250,
        balance_after=0,
        description="Expired",
        reason="Expired",
        actor={"userId": "system"},
        created_at=datetime(2026, 1, 15, tzinfo=UTC),
        request_id="r",
        allocations=[
            {"pointBatchId": "lot", "points": 250, "issueMonths": dict.fromkeys(months, 1)}
        ],
    )
    sizes: list[int] = []
    dynamodb.meta.events.register(
        "provide-client-params.dynamodb.TransactWriteItems",
        lambda params, **_: sizes.append(len(params["TransactItems"])),
    )
    assert analytics.count(expiry)
    # The marker, the month's totals, three cohort items and the running totals.
    assert sizes == [6]
    changes = analytics.cohort_changes()
    assert changes == {"2026-01": {f"{month}#expired": 1 for month in months}}
    assert not analytics.count(expiry)
    assert analytics.cohort_changes() == changes
