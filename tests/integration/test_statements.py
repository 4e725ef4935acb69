"""A customer's statement through the real handler: opening + the period's entries =
closing for periods that cut through days and months, entries applied late, the CSV, the
cost, and the refusals."""

import csv
import io
import itertools
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from crm_points.ledger_service import PointsService
from crm_points.records import CustomerProfile, LedgerEntry
from crm_points.runtime import runtime
from crm_points.statements import posted_on
from tests.api import call
from tests.conftest import request
from tests.invariants import check_ledger

# Moments either side of midnight in Johannesburg (UTC+2) and of a month's end.
MARCH_31_LATE = datetime(2026, 3, 31, 21, 30, tzinfo=UTC)  # 23:30 on 31 March
APRIL_1_EARLY = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)  # 00:30 on 1 April
APRIL_1_NOON = datetime(2026, 4, 1, 10, 0, tzinfo=UTC)
APRIL_15 = datetime(2026, 4, 15, 8, 0, tzinfo=UTC)


def statement(
    customer_id: str, first: date, last: date, headers: dict[str, str] | None = None
) -> Any:
    answer = call(
        "GET",
        f"/api/crm/customers/{customer_id}/points/statement",
        query={"from": first.isoformat(), "to": last.isoformat()},
        headers=headers,
    )
    assert answer.status == 200, answer.body
    return answer.body


@pytest.fixture
def ledger(lambda_env, service: PointsService, customer_id: str) -> list[LedgerEntry]:
    """A customer's ledger across the end of March, with a booking applied late."""
    service.award(
        request(now=datetime(2026, 3, 2, 9, tzinfo=UTC)),
        customer_id=customer_id,
        amount=1_000,
        reason="Welcome",
    )
    service.redeem(
        request(now=MARCH_31_LATE), customer_id=customer_id, amount=300, reason="Massage"
    )
    service.award(request(now=APRIL_1_EARLY), customer_id=customer_id, amount=50, reason="Survey")
    service.deduct(
        request(now=APRIL_1_NOON), customer_id=customer_id, amount=20, reason="Correction"
    )
    service.award(request(now=APRIL_15), customer_id=customer_id, amount=200, reason="Birthday")
    # A booking of 30 March whose event was applied on 15 April: posted on 15 April.
    service.complete_booking(
        request(now=datetime(2026, 3, 30, 12, tzinfo=UTC)),
        customer_id=customer_id,
        booking_id=f"{customer_id}-late",
        completed_at=datetime(2026, 3, 30, 12, tzinfo=UTC),
        amount_cents=12_345,
    )
    return check_ledger(service.store, customer_id)


def balance_through(entries: list[LedgerEntry], day: date) -> int:
    """The balance once every entry posted up to `day` was made, worked out from them all."""
    return sum(entry.points for entry in entries if posted_on(entry) <= day)


def test_a_late_entry_is_posted_on_the_day_it_was_applied(ledger):
    assert [(e.type.value, posted_on(e)) for e in ledger] == [
        ("AWARD", date(2026, 3, 2)),
        ("REDEEM", date(2026, 3, 31)),
        ("AWARD", date(2026, 4, 1)),
        ("DEDUCT", date(2026, 4, 1)),
        ("AWARD", date(2026, 4, 15)),
        ("EARN", date(2026, 4, 15)),
    ]
    assert ledger[-1].created_at.date() == date(2026, 3, 30)


def test_every_period_opens_where_the_last_one_closed_and_adds_up(ledger, customer_id):
    days = [
        date(2026, 3, 1),
        date(2026, 3, 2),
        date(2026, 3, 15),
        date(2026, 3, 31),
        date(2026, 4, 1),
        date(2026, 4, 14),
        date(2026, 4, 15),
        date(2026, 5, 1),
    ]
    for first, last in itertools.combinations_with_replacement(days, 2):
        body = statement(customer_id, first, last)
        lines = body["entries"]
        expected = [e.transaction_id for e in ledger if first <= posted_on(e) <= last]
        assert [line["transactionId"] for line in lines] == expected, (first, last)
        opening = balance_through(ledger, first - timedelta(days=1))
        closing = balance_through(ledger, last)
        assert (body["openingBalance"], body["closingBalance"]) == (opening, closing)
        assert opening + sum(line["points"] for line in lines) == closing
        totals = body["totals"]
        assert closing == (
            opening
            + totals["earned"]
            - totals["redeemed"]
            - totals["deducted"]
            - totals["expired"]
            + totals["recovered"]
            + totals["reversed"]
        )


def test_a_month_cut_at_midnight_in_johannesburg(ledger, customer_id):
    march = statement(customer_id, date(2026, 3, 1), date(2026, 3, 31))
    assert [(line["type"], line["points"]) for line in march["entries"]] == [
        ("AWARD", 1_000),
        ("REDEEM", -300),
    ]
    assert (march["openingBalance"], march["closingBalance"]) == (0, 700)
    assert march["totals"] == {
        "earned": 1_000,
        "redeemed": 300,
        "deducted": 0,
        "expired": 0,
        "recovered": 0,
        "reversed": 0,
    }
    april = statement(customer_id, date(2026, 4, 1), date(2026, 4, 30))
    assert april["openingBalance"] == 700
    assert [line["type"] for line in april["entries"]] == ["AWARD", "DEDUCT", "AWARD", "EARN"]
    assert april["closingBalance"] == 700 + 50 - 20 + 200 + 123
    assert april["businessName"] == "CRM Points"
    assert april["expirationSchedule"]["total"] == april["closingBalance"]


def test_a_period_without_entries_holds_the_balance_throughout(ledger, customer_id, lambda_env):
    lambda_env.reset()
    quiet = statement(customer_id, date(2026, 4, 2), date(2026, 4, 14))
    assert (quiet["openingBalance"], quiet["closingBalance"], quiet["entries"]) == (
        730,
        730,
        [],
    )
    # The account and the days at once, then the balance of the entry before the next day.
    assert dict(lambda_env.calls) == {"Query": 2, "GetItem": 1}
    later = statement(customer_id, date(2026, 6, 1), date(2026, 6, 30))
    assert later["openingBalance"] == later["closingBalance"] == sum(e.points for e in ledger)
    before = statement(customer_id, date(2026, 1, 1), date(2026, 2, 28))
    assert (before["openingBalance"], before["closingBalance"]) == (0, 0)


def test_a_statement_costs_two_round_trips_whatever_the_period(ledger, customer_id, lambda_env):
    lambda_env.reset()
    statement(customer_id, date(2026, 3, 15), date(2026, 4, 14))
    # The account and the posted days at once, then the entries by a key condition.
    assert dict(lambda_env.calls) == {"Query": 3}


def test_the_statement_as_csv(ledger, customer_id):
    text = statement(
        customer_id, date(2026, 4, 1), date(2026, 4, 30), headers={"Accept": "text/csv"}
    )
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:6] == [
        "posted_on",
        "created_at",
        "transaction_id",
        "type",
        "points",
        "balance_after",
    ]
    assert rows[1][3:6] == ["OPENING", "", "700"]
    assert [row[3] for row in rows[2:-1]] == ["AWARD", "DEDUCT", "AWARD", "EARN"]
    assert rows[-1][3:6] == ["CLOSING", "", "1053"]


def test_text_that_a_spreadsheet_would_run_is_quoted(lambda_env, service, customer_id):
    service.award(request(now=APRIL_15), customer_id=customer_id, amount=10, reason="=HYPERLINK(1)")
    text = call(
        "GET",
        f"/api/crm/customers/{customer_id}/points/statement",
        query={"from": "2026-04-15", "to": "2026-04-15"},
        headers={"Accept": "text/csv"},
    ).body
    (row,) = [r for r in csv.reader(io.StringIO(text)) if r[3] == "AWARD"]
    assert row[7] == "'=HYPERLINK(1)"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2026-04-02", "to": "2026-04-01"}, "to"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "to"),
        ({"from": "2026-4-1", "to": "2026-04-30"}, "from"),
        ({"from": "2026-02-30", "to": "2026-04-30"}, "from"),
        ({"from": "2026-04-01T00:00:00Z", "to": "2026-04-30"}, "from"),
        ({"to": "2026-04-30"}, "from"),
    ],
)
def test_a_period_that_is_not_one_is_a_422(lambda_env, customer_id, query, field):
    answer = call("GET", f"/api/crm/customers/{customer_id}/points/statement", query=query)
    assert (answer.status, answer.code) == (422, "VALIDATION_ERROR")
    assert field in str(answer.body["error"]["details"])


def test_a_customer_known_only_from_a_profile_has_an_empty_statement(
    lambda_env, service, customer_id
):
    service.admin.upsert_profile(
        CustomerProfile(customer_id=customer_id, email="a@example.com", updated_at=APRIL_15)
    )
    body = statement(customer_id, date(2026, 4, 1), date(2026, 4, 30))
    assert (body["openingBalance"], body["closingBalance"], body["entries"]) == (0, 0, [])
    assert body["expirationSchedule"]["expirations"] == []


def test_an_unknown_customer_is_a_404(lambda_env, customer_id):
    answer = call(
        "GET",
        f"/api/crm/customers/{customer_id}/points/statement",
        query={"from": "2026-04-01", "to": "2026-04-30"},
    )
    assert (answer.status, answer.code) == (404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("SUPPORT_AGENT", 200),
        ("MANAGER", 200),
        ("ADMIN", 200),
        ("FINANCE", 200),
        ("BOOKING_SYSTEM", 200),
        (None, 401),
    ],
)
def test_who_may_read_a_statement(ledger, customer_id, role, status):
    answer = call(
        "GET",
        f"/api/crm/customers/{customer_id}/points/statement",
        query={"from": "2026-04-01", "to": "2026-04-30"},
        role=role,
    )
    assert answer.status == status


def test_a_ledger_from_before_posted_days_gets_them_from_the_upgrade_step(
    ledger, customer_id, service, dynamodb, table_name
):
    # As the version before posted days left it: no markers, no posted days.
    pk = {"S": f"CUST#{customer_id}"}
    items = dynamodb.query(
        TableName=table_name,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": pk},
    )["Items"]
    for item in items:
        key = {"PK": pk, "SK": item["SK"]}
        if item["SK"]["S"].startswith("DAY#"):
            dynamodb.delete_item(TableName=table_name, Key=key)
        elif item["SK"]["S"].startswith("LEDGER#"):
            dynamodb.update_item(TableName=table_name, Key=key, UpdateExpression="REMOVE postedOn")
        elif item["SK"]["S"] == "STATE":
            dynamodb.update_item(
                TableName=table_name, Key=key, UpdateExpression="REMOVE postedThrough"
            )
    assert statement(customer_id, date(2026, 3, 1), date(2026, 3, 31))["entries"] == []

    assert service.store.mark_posted_days(customer_id) == 4
    assert service.store.mark_posted_days(customer_id) == 0
    march = statement(customer_id, date(2026, 3, 1), date(2026, 3, 31))
    assert [line["type"] for line in march["entries"]] == ["AWARD", "REDEEM"]
    # The booking of 30 March applied on 15 April stays on 15 April, after the award it
    # followed, as it was posted.
    april = statement(customer_id, date(2026, 4, 1), date(2026, 4, 30))
    assert [line["type"] for line in april["entries"]] == ["AWARD", "DEDUCT", "AWARD", "EARN"]
    assert (april["openingBalance"], april["closingBalance"]) == (700, 1_053)
    # The next posting carries on from the days marked.
    service.award(request(now=APRIL_15), customer_id=customer_id, amount=1, reason="After")
    day = statement(customer_id, date(2026, 4, 15), date(2026, 4, 15))
    assert [line["type"] for line in day["entries"]] == ["AWARD", "EARN", "AWARD"]
    assert (day["openingBalance"], day["closingBalance"]) == (730, 1_054)
    # A late event now is posted on the last day the upgrade step found, not before it.
    service.award(request(now=APRIL_1_NOON), customer_id=customer_id, amount=2, reason="Late")
    assert statement(customer_id, date(2026, 4, 15), date(2026, 4, 15))["closingBalance"] == 1_056


def test_the_business_name_is_a_setting(ledger, customer_id):
    changed = call(
        "PUT", "/api/crm/points/config", role="ADMIN", body={"businessName": "Serenity Spa"}
    )
    assert changed.status == 200, changed.body
    runtime.cache_clear()  # the functions read the configuration again (cached a minute, §10)
    assert statement(customer_id, date(2026, 4, 1), date(2026, 4, 30))["businessName"] == (
        "Serenity Spa"
    )
    refused = call(
        "PUT", "/api/crm/points/config", role="ADMIN", body={"businessName": "Spa\u202e"}
    )
    assert (refused.status, refused.code) == (422, "VALIDATION_ERROR")


def test_an_account_read_before_a_new_day_is_posted_is_the_statements_snapshot(
    ledger, customer_id, service, monkeypatch
):
    """The account and the days are read at once: a day posted after the account was read
    is left out, as the account does not count it yet."""
    stale = service.store.load_account(customer_id)
    service.award(
        request(now=datetime(2026, 4, 20, 9, tzinfo=UTC)),
        customer_id=customer_id,
        amount=5,
        reason="Later",
    )
    monkeypatch.setattr(service.store, "load_account", lambda _: stale)
    read = service.store.read_statement(customer_id, date(2026, 4, 16), date(2026, 4, 30), 2_000)
    assert (read.entries, read.balance_before) == ([], 1_053)


def test_a_day_posted_between_the_two_reads_is_found_again(
    ledger, customer_id, service, monkeypatch
):
    """The days are read first, then a later day is posted, then the account is read: the
    account says a later day exists, so the days are read again and the quiet period ends
    before it."""
    store = service.store
    days_read = threading.Event()
    query = store.client.query

    def watched(**request: Any) -> Any:
        answer = query(**request)
        if (
            request.get("ExpressionAttributeValues", {})
            .get(":first", {})
            .get("S", "")
            .startswith("DAY#")
        ):
            days_read.set()
        return answer

    load = store.load_account

    def late(customer: str) -> Any:
        assert days_read.wait(10)
        monkeypatch.setattr(store, "load_account", load)  # the award reads it as ever
        service.award(
            request(now=datetime(2026, 4, 20, 9, tzinfo=UTC)),
            customer_id=customer,
            amount=5,
            reason="Later",
        )
        return load(customer)

    monkeypatch.setattr(store.client, "query", watched)
    monkeypatch.setattr(store, "load_account", late)
    read = store.read_statement(customer_id, date(2026, 4, 16), date(2026, 4, 19), 2_000)
    assert (read.entries, read.balance_before) == ([], 1_053)
