"""Finance's routes on DynamoDB Local (docs/finance.md): the roll-forward of real ledger
entries counted into the aggregates, as JSON and CSV, with one request; closing months in
order, once, audited and replayable; a late entry after closing; §3's 422s."""

import csv
import io
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_points.analytics import effect_of
from crm_points.analytics_store import AnalyticsStore
from crm_points.config import PointsConfig
from crm_points.finance import cohort_report
from crm_points.finance import roll_forward as roll_forward_of
from crm_points.ledger_service import PointsService
from crm_points.ledger_store import LedgerStore
from crm_points.records import LedgerEntry
from crm_points.validation import month_of
from local.demo_data import STORIES, load_demo_data
from tests.api import CLOCK, ROOT, LambdaContext, call, handler
from tests.conftest import request
from tests.iam import PolicyUse, granted
from tests.integration.conftest import table_of_its_own
from tests.integration.test_analytics import at, run_scenario
from tests.unit.test_finance import ENDS, MOVEMENTS, assert_ties

ROUTE = "/api/crm/points/finance/roll-forward"
PERIODS = "/api/crm/points/finance/periods"


@pytest.fixture
def table_name(dynamodb_endpoint: str) -> Iterator[str]:
    """A table of this test's own: the aggregates and the closed months are table-wide."""
    with table_of_its_own(dynamodb_endpoint, "finance") as name:
        yield name


@pytest.fixture
def analytics(dynamodb: Any, table_name: str) -> AnalyticsStore:
    return AnalyticsStore(dynamodb, table_name, sleep=lambda _: None)


@pytest.fixture
def counted(service: PointsService, analytics: AnalyticsStore) -> list[LedgerEntry]:
    """The analytics scenario (March and April 2026) made by the ledger and counted, as the
    change stream would."""
    entries = run_scenario(service)
    analytics.count_all(entries)
    return entries


def roll_forward(first: str, last: str, **extra: Any) -> Any:
    answer = call("GET", ROUTE, role="FINANCE", query={"from": first, "to": last}, **extra)
    assert answer.status == 200, answer.body
    return answer


def close(month: str, role: str = "FINANCE", key: str | None = None) -> Any:
    return call("POST", f"{PERIODS}/{month}/close", role=role, user="fin-1", key=key)


def test_the_roll_forward_of_the_ledgers_entries_with_one_request(lambda_env, counted):
    lambda_env.reset()
    months = roll_forward("2026-02", "2026-04").body["months"]
    assert lambda_env.calls == Counter({"Query": 1})
    assert [row["month"] for row in months] == ["2026-02", "2026-03", "2026-04"]
    february, *rest = months
    assert february["points"]["closing"] == 0
    for row in rest:
        points = row["points"]
        assert points["movements"] == MOVEMENTS[row["month"]]
        opening, closing, outstanding, debts = ENDS[row["month"]]
        assert (points["opening"], points["closing"]) == (opening, closing)
        assert (points["outstanding"], points["debts"]) == (outstanding, debts)
        # A point is worth 1 cent by default (pointValueCents).
        assert row["valuePerPointCents"] == "1"
        assert row["amounts"]["closing"] == f"{closing / 100:.2f}"
    # Each movement is the ledger's own entries of that type, summed.
    kinds = {"EARN": "earned", "AWARD": "awarded", "RECOVER": "recovered", "REDEEM": "redeemed"}
    kinds |= {"DEDUCT": "deducted", "EXPIRE": "expired"}
    for row in rest:
        mine = [e for e in counted if month_of(e.created_at) == row["month"]]
        for kind, line in kinds.items():
            assert row["points"]["movements"][line] == sum(
                abs(e.points) for e in mine if e.type == kind
            )


def test_the_roll_forward_as_csv_is_the_same_figures(lambda_env, counted):
    as_json = roll_forward("2026-03", "2026-04").body["months"]
    answer = roll_forward("2026-03", "2026-04", headers={"Accept": "text/csv"})
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert "points-roll-forward-2026-03-to-2026-04.csv" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.body)))
    assert [row["month"] for row in rows] == ["2026-03", "2026-04"]
    for row, expected in zip(rows, as_json, strict=True):
        assert int(row["closing"]) == expected["points"]["closing"]
        assert int(row["earned"]) == expected["points"]["movements"]["earned"]
        assert row["closingZar"] == expected["amounts"]["closing"]


@pytest.mark.parametrize(
    "query",
    [
        {"from": "2026-13"},
        {"to": "2026-4"},
        {"from": "2026-04", "to": "2026-03"},
        {"from": "2000-01", "to": "2026-03"},
    ],
)
def test_a_bad_range_is_a_422(lambda_env, query):
    answer = call("GET", ROUTE, role="FINANCE", query=query)
    assert (answer.status, answer.code) == (422, "VALIDATION_ERROR"), answer.body


def test_a_month_in_the_future_is_a_422(lambda_env):
    later = (CLOCK() + timedelta(days=40)).strftime("%Y-%m")
    for query in ({"to": later}, {"from": later}):
        answer = call("GET", ROUTE, role="FINANCE", query=query)
        assert (answer.status, answer.code) == (422, "VALIDATION_ERROR"), answer.body


def test_months_close_in_order_once_and_a_replay_answers_the_same(lambda_env, counted):
    assert call("GET", PERIODS, role="FINANCE").body == {
        "closed": [],
        "nextToClose": "2026-03",
    }
    assert (close("2026-04").status, close("2026-04").code) == (409, "CONFLICT")
    first = close("2026-03", key="close-march")
    assert first.status == 201, first.body
    assert first.headers["Idempotent-Replayed"] == "false"
    assert first.body["closedBy"] == {"userId": "fin-1", "role": "FINANCE"}
    assert first.body["points"]["closing"] == 750
    again = close("2026-03", key="close-march")
    assert (again.status, again.body) == (201, first.body)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (close("2026-03").status, close("2026-03").code) == (409, "CONFLICT")

    lambda_env.reset()
    listed = call("GET", PERIODS, role="MANAGER")
    assert lambda_env.calls == Counter({"Query": 1})
    assert listed.body == {"closed": [first.body], "nextToClose": "2026-04"}
    march = roll_forward("2026-03", "2026-03").body["months"][0]
    assert march["status"] == "CLOSED"
    assert march["closedAt"] == first.body["closedAt"]


def test_a_late_entry_leaves_the_closed_month_and_counts_in_the_open_one(
    lambda_env, counted, service, analytics
):
    before = roll_forward("2026-03", "2026-05").body["months"]
    assert close("2026-03").status == 201
    # A deduction of the last evening of March is counted only now.
    late = service.deduct(
        request(at("2026-03-31T20:00:00")), customer_id="A", amount=40, reason="Late"
    )
    assert month_of(late.transactions[0].created_at) == "2026-03"
    analytics.count_all(late.transactions)
    after = roll_forward("2026-03", "2026-05").body["months"]
    march = after[0]
    assert (march["status"], march["points"]) == ("CLOSED", before[0]["points"])
    april = after[1]
    assert april["lateEntries"]["deducted"] == 40
    assert april["points"]["movements"]["deducted"] == 40
    assert april["points"]["opening"] == 750
    assert april["points"]["closing"] == before[1]["points"]["closing"] - 40
    assert after[2]["lateEntries"] is None


def test_closing_writes_only_what_its_policy_grants(lambda_env, counted):
    from crm_points.runtime import runtime

    use = PolicyUse()
    use.function = "finance_close_period"
    runtime_client = runtime().service.store.client
    runtime_client.meta.events.register("provide-client-params.dynamodb", use.record)
    try:
        assert close("2026-03").status == 201
        assert close("2026-04").status == 201  # checks that March is still closed
    finally:
        runtime_client.meta.events.unregister("provide-client-params.dynamodb", use.record)
    used = use.used["finance_close_period"]
    assert {("dynamodb:PutItem", "table"), ("dynamodb:ConditionCheckItem", "table")} <= used
    assert used <= granted()["finance_close_period"]


def test_the_sample_event_is_answered_as_api_gateway_would_deliver_it(lambda_env, counted):
    event = json.loads((ROOT / "events" / "get_finance_roll_forward.json").read_text())
    lambda_env.reset()
    response = handler("finance_roll_forward").lambda_handler(event, LambdaContext())
    assert response["statusCode"] == 200, response["body"]
    months = json.loads(response["body"])["months"]
    assert [row["month"] for row in months] == ["2026-03", "2026-04"]
    assert months[1]["points"]["closing"] == ENDS["2026-04"][1]
    assert lambda_env.calls == Counter({"Query": 1})


def test_every_counted_entry_moves_one_line_by_its_points(counted):
    for entry in counted:
        totals = effect_of(entry).totals
        lines = (
            totals.points_earned
            + totals.points_awarded
            + totals.points_recovered
            + totals.reversals_in
            - totals.points_redeemed
            - totals.points_deducted
            - totals.points_expired
            - totals.reversals_out
        )
        assert lines == entry.points == totals.liability_change + totals.debts_change


SETTINGS = "/api/crm/points/finance/settings"


def test_finance_sets_the_value_per_point_audited_and_the_amounts_follow(
    lambda_env, counted, dynamodb, table_name
):
    from crm_points.runtime import runtime

    changed = call(
        "PUT", SETTINGS, role="FINANCE", user="fin-1", body={"standalonePointValueCents": 7.834}
    )
    assert changed.status == 200, changed.body
    assert changed.body["standalonePointValueCents"] == 7.834
    audit = dynamodb.query(
        TableName=table_name,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :change)",
        ExpressionAttributeValues={":pk": {"S": "CONFIG"}, ":change": {"S": "CHANGE#"}},
    )["Items"]
    (record,) = audit
    assert record["changedBy"]["M"]["userId"]["S"] == "fin-1"
    assert record["changes"]["M"]["standalonePointValueCents"]["M"]["old"] == {"NULL": True}

    runtime.cache_clear()  # the functions read the configuration again within a minute
    march = roll_forward("2026-03", "2026-03").body["months"][0]
    assert march["valuePerPointCents"] == "7.834"
    assert march["amounts"]["closing"] == "58.755"  # 750 points x 7.834 cents

    unset = call("PUT", SETTINGS, role="ADMIN", body={"standalonePointValueCents": None})
    assert (unset.status, unset.body["standalonePointValueCents"]) == (200, None)


@pytest.mark.parametrize("value", [0, -1, 10_001, 1.23456, "7.5", True])
def test_a_value_per_point_out_of_bounds_is_a_422_and_changes_nothing(lambda_env, value):
    answer = call("PUT", SETTINGS, role="FINANCE", body={"standalonePointValueCents": value})
    assert (answer.status, answer.code) == (422, "VALIDATION_ERROR"), answer.body
    config = call("GET", "/api/crm/points/config", role="FINANCE").body
    assert config["standalonePointValueCents"] is None


def test_the_demo_datas_two_years_tie_month_by_month(analytics, dynamodb, table_name):
    """What `make run` loads: every month from the first entry to now ties, and its closing
    is the sum of the customers' balances at its end, split into outstanding and debts."""
    now = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    store = LedgerStore(dynamodb, table_name)
    demo = load_demo_data(PointsService(store, PointsConfig()), now, 2 * len(STORIES))
    ledgers = [store.ledger_of(customer)[1] for customer in demo.customer_ids]
    analytics.count_all([entry for entries in ledgers for entry in entries])
    first = min(month_of(entries[0].created_at) for entries in ledgers if entries)
    report = roll_forward_of(analytics.ledger(), first, month_of(now), PointsConfig())
    assert len(report.months) >= 24
    assert_ties(report)
    for row in report.months:
        balances = [
            max(
                (e for e in entries if month_of(e.created_at) <= row.month),
                default=None,
                key=lambda e: e.sequence,
            )
            for entries in ledgers
        ]
        ends = [entry.balance_after for entry in balances if entry is not None]
        assert row.points.closing == sum(ends), row.month
        assert row.points.outstanding == sum(b for b in ends if b > 0), row.month
        assert row.points.debts == sum(b for b in ends if b < 0), row.month
    assert any(row.points.debts for row in report.months), "the demo has a debt story"

    # Every cohort: what its month issued, and outstanding what the lots hold of it.
    cohorts = cohort_report(analytics.ledger(), None, now, PointsConfig()).cohorts
    every = [entry for entries in ledgers for entry in entries]
    assert {row.month: row.issued for row in cohorts} == issued_by_month(every)
    held: Counter[str] = Counter()
    for customer in demo.customer_ids:
        account = store.load_account(customer)
        for lot in account.lots if account else []:
            held.update(lot.issue_months)
    assert {row.month: row.outstanding for row in cohorts if row.outstanding} == dict(held)
    assert sum(held.values()) == report.months[-1].points.outstanding


COHORTS = "/api/crm/points/finance/cohorts"


def issued_by_month(entries: list[LedgerEntry]) -> dict[str, int]:
    """The points EARN and AWARD entries issued, by month: each cohort's `issued`."""
    issued: Counter[str] = Counter()
    for entry in entries:
        if entry.type in ("EARN", "AWARD"):
            issued[month_of(entry.created_at)] += entry.points
    return dict(issued)


def test_the_cohorts_of_the_ledgers_entries_with_one_request(lambda_env, counted):
    lambda_env.reset()
    answer = call("GET", COHORTS, role="FINANCE", query={"asOf": "2026-04"})
    assert answer.status == 200, answer.body
    assert lambda_env.calls == Counter({"Query": 1})
    report = answer.body
    assert (report["asOf"], report["status"]) == ("2026-04", "OPEN")
    cohorts = report["cohorts"]
    assert {row["month"]: row["issued"] for row in cohorts} == issued_by_month(counted)
    lines = ("redeemed", "deducted", "expired", "reversed", "settledDebt", "outstanding")
    for row in cohorts:
        assert row["issued"] == sum(row[line] for line in lines), row
    # What the cohorts have outstanding is the liability at April's end.
    april = roll_forward("2026-04", "2026-04").body["months"][0]
    assert sum(row["outstanding"] for row in cohorts) == april["points"]["outstanding"]
    # No cohort is resolved yet: no history, rate 0, released only as points are used.
    assert report["breakage"]["source"] == "NO_HISTORY"
    assert april["revenue"]["deferredRevenue"] == report["revenue"]["deferredRevenue"]

    as_csv = call(
        "GET", COHORTS, role="FINANCE", query={"asOf": "2026-04"}, headers={"Accept": "text/csv"}
    )
    assert "points-cohorts-2026-04.csv" in as_csv.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.body)))
    assert [row["month"] for row in rows] == [*(row["month"] for row in cohorts), "total"]
    assert int(rows[-1]["outstanding"]) == april["points"]["outstanding"]


@pytest.mark.parametrize("month", ["2026-13", "26-04", "later"])
def test_a_bad_as_of_is_a_422_naming_it(lambda_env, month):
    if month == "later":
        month = (CLOCK() + timedelta(days=40)).strftime("%Y-%m")
    answer = call("GET", COHORTS, role="FINANCE", query={"asOf": month})
    assert (answer.status, answer.code) == (422, "VALIDATION_ERROR"), answer.body


def test_finance_overrides_the_breakage_rate_audited_and_closing_keeps_the_figures(
    lambda_env, counted, dynamodb, table_name
):
    from crm_points.runtime import runtime

    changed = call(
        "PUT",
        SETTINGS,
        role="FINANCE",
        user="fin-1",
        body={"breakageRateOverridePct": 15, "breakageWindowMonths": 12},
    )
    assert changed.status == 200, changed.body
    assert (changed.body["breakageRateOverridePct"], changed.body["breakageWindowMonths"]) == (
        15.0,
        12,
    )
    audit = dynamodb.query(
        TableName=table_name,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :change)",
        ExpressionAttributeValues={":pk": {"S": "CONFIG"}, ":change": {"S": "CHANGE#"}},
    )["Items"]
    assert "breakageRateOverridePct" in audit[0]["changes"]["M"]
    runtime.cache_clear()

    report = call("GET", COHORTS, role="MANAGER", query={"asOf": "2026-03"}).body
    assert report["breakage"]["source"] == "OVERRIDE"
    assert report["breakage"]["ratePct"] == "15"
    assert report["breakage"]["windowFrom"] == "2025-04"
    closed = close("2026-03")
    assert closed.status == 201, closed.body
    assert closed.body["revenue"] == report["revenue"]
    after = call("GET", COHORTS, role="FINANCE", query={"asOf": "2026-03"}).body
    assert (after["status"], after["asClosed"]) == ("CLOSED", report["revenue"])

    for bad in ({"breakageRateOverridePct": 101}, {"breakageWindowMonths": 0}):
        refused = call("PUT", SETTINGS, role="FINANCE", body=bad)
        assert (refused.status, refused.code) == (422, "VALIDATION_ERROR"), refused.body


def test_the_cohorts_sample_event_is_answered_as_api_gateway_would_deliver_it(lambda_env, counted):
    event = json.loads((ROOT / "events" / "get_finance_cohorts.json").read_text())
    lambda_env.reset()
    response = handler("finance_cohorts").lambda_handler(event, LambdaContext())
    assert response["statusCode"] == 200, response["body"]
    report = json.loads(response["body"])
    assert report["asOf"] == "2026-04"
    assert {row["month"]: row["issued"] for row in report["cohorts"]} == issued_by_month(counted)
    assert lambda_env.calls == Counter({"Query": 1})
