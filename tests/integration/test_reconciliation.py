"""The reconciliation: a ledger written by the service reconciles clean, and an account
changed behind the ledger's back, or an entry deleted, is named by customer and field."""

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest

from crm_points.analytics_store import ANALYTICS_PK, AnalyticsStore, month_sk
from crm_points.config import PointsConfig
from crm_points.dynamo import from_item, to_item
from crm_points.ledger_service import PointsService
from crm_points.ledger_store import LedgerStore, customer_pk, entry_sk
from crm_points.reconciliation import Difference, check_account, rebuild_analytics, reconcile
from crm_points.records import Actor, TransactionType
from crm_points.validation import month_of
from deploy import reconcile as deploy_reconcile
from deploy.sweep import every_account
from local import reconcile as reconcile_command
from local.dynamodb_local import client
from tests.conftest import START, request
from tests.integration.conftest import table_of_its_own

DAY = timedelta(days=1)
SYSTEM = Actor(user_id="system")


@pytest.fixture
def table(dynamodb_endpoint: str) -> Iterator[tuple[Any, str]]:
    """A table for this test alone, read with Scan by the sweep (the shared table holds
    other tests' accounts, some of them tampered with on purpose)."""
    with table_of_its_own(dynamodb_endpoint, "reconcile", stream=False) as name:
        yield client(dynamodb_endpoint), name


@pytest.fixture
def ledger(table: tuple[Any, str], config: Any) -> PointsService:
    dynamodb, name = table
    return PointsService(LedgerStore(dynamodb, name), config, sleep=lambda _: None)


def busy_ledger(service: PointsService) -> list[str]:
    """Customers with every kind of movement: awards, a booking with a checkout redemption,
    a deduct into debt, an expiry, a recovery, an extension and a cancelled booking."""
    first, second, third = (f"rec-{uuid.uuid4().hex[:6]}-{n}" for n in range(3))
    service.award(request(), customer_id=first, amount=500, reason="Welcome")
    service.award(
        request(), customer_id=first, amount=70, reason="Short", expiry_date=START + 5 * DAY
    )
    service.complete_booking(
        request(actor=SYSTEM),
        customer_id=first,
        booking_id=f"{first}-b1",
        completed_at=START,
        amount_cents=100_000,
        points_redeemed=300,
    )
    later = START + 400 * DAY
    expired = service.expire(customer_id=first, now=later, request_id="run")
    assert expired is not None
    expire_id = expired.transactions[0].transaction_id
    service.recover_expired(
        request(now=later, actor=Actor(user_id="root", role="ADMIN")),
        transaction_id=expire_id,
        reason="Goodwill",
        new_expiry_date=later + 30 * DAY,
    )
    service.award(request(), customer_id=second, amount=100, reason="Welcome")
    service.deduct(
        request(actor=Actor(user_id="root", role="ADMIN")),
        customer_id=second,
        amount=150,
        reason="Chargeback",
        allow_negative=True,
    )
    service.award(request(), customer_id=second, amount=80, reason="Settles the debt first")
    service.complete_booking(
        request(actor=SYSTEM),
        customer_id=third,
        booking_id=f"{third}-b1",
        completed_at=START,
        amount_cents=50_000,
    )
    lot = service.account(third).lots[0].point_batch_id
    service.extend_expiry(
        request(), point_batch_id=lot, new_expiry_date=START + 600 * DAY, reason="Loyal"
    )
    service.reverse_booking(
        request(actor=SYSTEM), customer_id=third, booking_id=f"{third}-b1", reason="Cancelled"
    )
    return [first, second, third]


def test_a_ledger_written_by_the_service_reconciles_clean(ledger: PointsService) -> None:
    customers = busy_ledger(ledger)
    kinds = {entry.type for customer in customers for entry in ledger.store.ledger_of(customer)[1]}
    assert kinds == set(TransactionType)  # every kind of entry is covered
    report = reconcile(ledger.store, every_account(ledger.store, pause=0))
    assert (report.accounts, report.differences) == (3, [])


def _rewrite(dynamodb: Any, table: str, customer_id: str, change: Any) -> None:
    key = to_item({"PK": customer_pk(customer_id), "SK": "STATE"})
    values = from_item(dynamodb.get_item(TableName=table, Key=key)["Item"])
    change(values)
    dynamodb.put_item(TableName=table, Item=to_item(values))


def _more_balance(values: dict[str, Any]) -> None:
    values["currentBalance"] += 1


def _more_earned(values: dict[str, Any]) -> None:
    values["lifetimeEarned"] -= 10


def _lot_grown(values: dict[str, Any]) -> None:
    values["lots"][0]["remainingPoints"] += 5


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        (_more_balance, {"currentBalance"}),
        (_more_earned, {"lifetimeEarned"}),
        (_lot_grown, {"lots[{lot}].remainingPoints", "sum(lots.remainingPoints)"}),
    ],
)
def test_an_account_changed_behind_the_ledgers_back_is_named(
    ledger: PointsService, table: tuple[Any, str], change: Any, fields: set[str]
) -> None:
    dynamodb, name = table
    customers = busy_ledger(ledger)
    tampered = customers[0]
    lot = ledger.account(tampered).lots[0].point_batch_id
    _rewrite(dynamodb, name, tampered, change)
    report = reconcile(ledger.store, every_account(ledger.store, pause=0))
    assert report.accounts == 3
    assert {d.customer_id for d in report.differences} == {tampered}
    assert {d.field for d in report.differences} == {f.format(lot=lot) for f in fields}


def test_a_deleted_entry_is_named(ledger: PointsService, table: tuple[Any, str]) -> None:
    dynamodb, name = table
    customer = busy_ledger(ledger)[1]
    dynamodb.delete_item(
        TableName=name, Key=to_item({"PK": customer_pk(customer), "SK": entry_sk(2)})
    )
    differences = reconcile(ledger.store, [customer]).differences
    fields = {d.field for d in differences}
    assert {"entryCount", "entrySequences", "currentBalance"} <= fields
    assert Difference(customer, "entryCount", 3, 2) in differences


def test_make_reconcile_exits_non_zero_naming_the_customer_and_field(
    ledger: PointsService,
    table: tuple[Any, str],
    dynamodb_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dynamodb, name = table
    customers = busy_ledger(ledger)
    for customer in customers:  # as the change stream counts them
        AnalyticsStore(dynamodb, name).count_all(ledger.store.ledger_of(customer)[1])
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint)
    monkeypatch.setenv("TABLE_NAME", name)
    assert reconcile_command.run([]) == 0
    assert "3 accounts checked" in capsys.readouterr().err
    _rewrite(dynamodb, name, customers[2], _more_balance)
    assert reconcile_command.run([]) == 1
    out, err = capsys.readouterr()
    assert f'"customer_id": "{customers[2]}", "field": "currentBalance"' in out
    assert "3 accounts checked" in err
    assert "1 difference\n" in err
    assert reconcile_command.run([customers[0]]) == 0


class DeployedStack:
    """boto3.Session for a deployed stack whose table is DynamoDB Local's `table`: its
    CloudFormation answers where the stack's PointsTable is."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self.dynamodb, self.table = dynamodb, table
        self.asked: list[dict[str, Any]] = []

    def __call__(self, region_name: str | None = None) -> "DeployedStack":
        return self

    def client(self, service: str, config: Any = None) -> Any:
        return self.dynamodb if service == "dynamodb" else self

    def describe_stack_resource(self, **asked: Any) -> dict[str, Any]:
        self.asked.append(asked)
        return {"StackResourceDetail": {"PhysicalResourceId": self.table}}


def test_the_deployed_stacks_reconciliation_is_the_same_command(
    ledger: PointsService,
    table: tuple[Any, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dynamodb, name = table
    customers = busy_ledger(ledger)
    stack = DeployedStack(dynamodb, name)
    monkeypatch.setattr(boto3, "Session", stack)
    _rewrite(dynamodb, name, customers[1], _more_earned)
    assert deploy_reconcile.main(["--stack", "crm-points-prod", customers[1]]) == 1
    assert stack.asked == [{"StackName": "crm-points-prod", "LogicalResourceId": "PointsTable"}]
    out, err = capsys.readouterr()
    assert f'"customer_id": "{customers[1]}", "field": "lifetimeEarned"' in out
    assert f"1 account checked in table {name} of crm-points-prod: 1 difference" in err
    assert deploy_reconcile.main(["--stack", "crm-points-prod", customers[0]]) == 0


def test_the_analytics_are_checked_against_every_entry(
    ledger: PointsService, table: tuple[Any, str]
) -> None:
    dynamodb, name = table
    customers = busy_ledger(ledger)
    analytics = AnalyticsStore(dynamodb, name)
    for customer in customers:  # as the change stream counts them
        analytics.count_all(ledger.store.ledger_of(customer)[1])
    store = ledger.store
    assert reconcile(store, every_account(store, pause=0), analytics).differences == []

    month = month_of(START)
    dynamodb.update_item(
        TableName=name,
        Key=to_item({"PK": ANALYTICS_PK, "SK": month_sk(month, 0)}),
        UpdateExpression="ADD pointsEarned :one",
        ExpressionAttributeValues=to_item({":one": 1}),
    )
    differences = reconcile(store, every_account(store, pause=0), analytics).differences
    [off] = differences
    assert (off.customer_id, off.field, off.stored - off.recomputed) == (
        "ANALYTICS",
        f"{month}.points_earned",
        1,
    )


def test_a_lost_stream_batch_is_healed_by_the_rebuild_once(
    ledger: PointsService, table: tuple[Any, str]
) -> None:
    dynamodb, name = table
    customers = busy_ledger(ledger)
    analytics = AnalyticsStore(dynamodb, name)
    store = ledger.store
    lost = customers[1]
    for customer in customers:
        if customer != lost:  # this one's batch never reached the analytics
            analytics.count_all(store.ledger_of(customer)[1])
    drifted = reconcile(store, every_account(store, pause=0), analytics).differences
    assert drifted
    assert {d.customer_id for d in drifted} == {"ANALYTICS"}

    later = START + 800 * DAY  # every month of the ledger has closed
    shown = rebuild_analytics(store, analytics, every_account(store, pause=0), later, dry_run=True)
    assert shown
    assert not any(c.applied for c in shown)
    assert reconcile(store, every_account(store, pause=0), analytics).differences == drifted
    healed = rebuild_analytics(store, analytics, every_account(store, pause=0), later)
    assert [c.month for c in healed] == [c.month for c in shown]
    assert all(c.applied for c in healed)
    assert reconcile(store, every_account(store, pause=0), analytics).differences == []
    assert (
        rebuild_analytics(store, analytics, every_account(store, pause=0), later) == []
    )  # again: nothing
    # A rebuild racing another with the same reading applies its correction once.
    month = healed[0].month
    assert analytics.correct(month, healed[0].delta, "same-basis")
    assert not analytics.correct(month, healed[0].delta, "same-basis")


def test_the_month_still_open_is_left_to_the_stream(
    ledger: PointsService, table: tuple[Any, str]
) -> None:
    dynamodb, name = table
    busy_ledger(ledger)
    analytics = AnalyticsStore(dynamodb, name)  # nothing counted at all
    store = ledger.store
    during_january = START + 10 * DAY
    months = {
        c.month
        for c in rebuild_analytics(
            store, analytics, every_account(store, pause=0), during_january, dry_run=True
        )
    }
    assert month_of(START) not in months


def test_a_ledger_begun_before_issue_months_is_checked_but_for_its_months(store, dynamodb):
    """Entries and a lot stored before the months were recorded (the attributes removed, as
    the version before wrote them): no difference is reported for what was only read."""
    customer = f"legacy-{uuid.uuid4().hex[:6]}"
    service = PointsService(store, PointsConfig(), sleep=lambda _: None)
    # Two months' awards in one lot (the same expiry day), then a redemption from it.
    expiry = START + timedelta(days=300)
    for days, amount in ((0, 500), (40, 300)):
        service.award(
            request(START + timedelta(days=days)),
            customer_id=customer,
            amount=amount,
            reason="x",
            expiry_date=expiry,
        )
    later = request(START + timedelta(days=41))
    service.redeem(later, customer_id=customer, amount=600, reason="z")
    items = dynamodb.query(
        TableName=store.table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": customer_pk(customer)}},
    )["Items"]
    for item in items:
        if "issueMonths" in item:
            dynamodb.update_item(
                TableName=store.table,
                Key={"PK": item["PK"], "SK": item["SK"]},
                UpdateExpression="REMOVE issueMonths",
            )
        for lot_list in ("lots", "allocations"):
            if lot_list in item:
                bare = [
                    {"M": {k: v for k, v in part["M"].items() if k != "issueMonths"}}
                    for part in item[lot_list]["L"]
                ]
                dynamodb.update_item(
                    TableName=store.table,
                    Key={"PK": item["PK"], "SK": item["SK"]},
                    UpdateExpression="SET #l = :l",
                    ExpressionAttributeNames={"#l": lot_list},
                    ExpressionAttributeValues={":l": {"L": bare}},
                )
    account, entries = store.ledger_of(customer)
    assert account is not None
    assert not entries[0].issue_months
    (lot,) = account.lots
    assert lot.remaining_points == 200
    assert check_account(account, entries) == []
