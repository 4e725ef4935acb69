"""Finance's balances export through the real handlers: POST /points/finance/balances-export,
the worker fed by SQS (moto's server) as Lambda's event source mapping feeds it, and GET
/points/finance/balances-export/{jobId} with its link to the file in S3 (moto's), on a table
of its own holding a few thousand accounts on DynamoDB Local."""

import csv
import http.client
import io
import json
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest

from crm_points import balances_export
from crm_points.analytics_store import AnalyticsStore
from crm_points.balances_export import ACCOUNTS_PER_PAGE, BalancesExports, balance_at, month_end
from crm_points.export_store import ExportStore
from crm_points.ledger_service import PointsService
from crm_points.ledger_store import INDEX_SHARDS, LedgerStore, ListedAccount, index_shard
from crm_points.records import Actor, LedgerEntry
from crm_points.runtime import runtime
from crm_points.validation import month_of
from local.dynamodb_local import client
from local.lambda_events import reported_failures, sqs_record
from local.reconcile import parser, reconcile_and_print
from tests import api
from tests.api import call
from tests.conftest import request
from tests.iam import PolicyUse
from tests.integration.conftest import table_of_its_own
from tests.integration.test_bulk_awards import Queue

EXPORT = "/api/crm/points/finance/balances-export"
ROLL_FORWARD = "/api/crm/points/finance/roll-forward"
MONTH = "2026-03"
# Customers: those of February and March, with an April redemption for every fifth (the
# export reads their newest entries back) and a debt for every 97th; and customers whose
# account began in April (not in March's export).
CUSTOMERS = 2_500
LATER = 40


@pytest.fixture
def table_name(dynamodb_endpoint: str) -> Iterator[str]:
    """A table of this test's own: the export lists every account of its table."""
    with table_of_its_own(dynamodb_endpoint, "export") as name:
        yield name


@pytest.fixture
def export_env(
    export_destinations: tuple[str, str], aws_env: Any, request: pytest.FixtureRequest
) -> tuple[Queue, str]:
    """The export queue and bucket, then the functions' environment (read at cold start)."""
    url, bucket = export_destinations
    request.getfixturevalue("lambda_env")
    return Queue(aws_env.client("sqs"), url), bucket


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def make_customers(service: PointsService) -> list[LedgerEntry]:
    """The ledger of CUSTOMERS + LATER customers, made eight at a time; every entry."""

    def one(number: int) -> list[LedgerEntry]:
        customer = f"c-{number:05d}"
        if number >= CUSTOMERS:
            made = service.award(
                request(at("2026-04-03T10:00:00")), customer_id=customer, amount=70, reason="Late"
            )
            return made.transactions
        month = "2026-02" if number % 2 else "2026-03"
        entries = service.award(
            request(at(f"{month}-10T10:00:00")),
            customer_id=customer,
            amount=100 + number % 300,
            reason="Welcome",
        ).transactions
        if number % 97 == 0:
            entries += service.deduct(
                request(at(f"{month}-20T10:00:00")),
                customer_id=customer,
                amount=500,
                reason="Fraud",
                allow_negative=True,
            ).transactions
        if number % 5 == 0 and number % 97:
            entries += service.redeem(
                request(at("2026-04-02T10:00:00")), customer_id=customer, amount=30, reason="Spa"
            ).transactions
        return entries

    with ThreadPoolExecutor(max_workers=8) as pool:
        return [entry for entries in pool.map(one, range(CUSTOMERS + LATER)) for entry in entries]


def download(link: str) -> str:
    """What a browser on this machine gets from the link (moto's S3 answers it)."""
    url = urlsplit(link)
    assert url.scheme == "http"
    assert url.hostname == "127.0.0.1"
    connection = http.client.HTTPConnection(url.netloc, timeout=30)
    try:
        connection.request("GET", f"{url.path}?{url.query}")
        response = connection.getresponse()
        assert response.status == 200, response.read()[:300]
        return response.read().decode()
    finally:
        connection.close()


def deliver(queue: Queue) -> int:
    """Run the worker on the waiting pages, one message a batch as the template's event
    source does; how many it ran."""
    ran = 0
    worker = api.handler("finance_export_worker")
    while messages := queue.receive(10):
        for message in messages:
            source = "arn:aws:sqs:af-south-1:123456789012:ExportQueue"
            event = {"Records": [sqs_record(message, source, "af-south-1")]}
            answer = worker.lambda_handler(event, api.LambdaContext())
            assert reported_failures(answer, [message["MessageId"]]) == []
            queue.delete(message)
            ran += 1
    return ran


def test_the_export_of_a_few_thousand_accounts_sums_to_the_roll_forward(
    export_env, service, dynamodb, table_name
):
    queue, _ = export_env
    entries = make_customers(service)
    AnalyticsStore(dynamodb, table_name).count_all(entries)

    posted = call("POST", EXPORT, role="FINANCE", user="fiona", query={"asOf": MONTH}, key="x-1")
    assert posted.status == 202, posted.body
    job = posted.body
    assert (job["status"], job["asOf"], job["shards"]) == ("QUEUED", MONTH, INDEX_SHARDS)
    again = call("POST", EXPORT, role="FINANCE", user="fiona", query={"asOf": MONTH}, key="x-1")
    assert (again.status, again.body) == (202, job)
    assert again.headers["Idempotent-Replayed"] == "true"

    # Progress moves page by page; the replay queued every first page again, and those
    # pages count once.
    progress = []
    worker = api.handler("finance_export_worker")
    source = "arn:aws:sqs:af-south-1:123456789012:ExportQueue"
    while messages := queue.receive(10):
        for message in messages:
            event = {"Records": [sqs_record(message, source, "af-south-1")]}
            answer = worker.lambda_handler(event, api.LambdaContext())
            assert reported_failures(answer, [message["MessageId"]]) == []
            queue.delete(message)
            shown = call("GET", f"{EXPORT}/{job['jobId']}", role="FINANCE").body
            progress.append((shown["shardsDone"], shown["accounts"]))
    assert progress == sorted(progress)
    assert progress[0][1] < progress[-1][1] == CUSTOMERS

    done = call("GET", f"{EXPORT}/{job['jobId']}", role="MANAGER")
    assert done.status == 200, done.body
    result = done.body
    assert (result["status"], result["shardsDone"], result["accounts"]) == (
        "DONE",
        INDEX_SHARDS,
        CUSTOMERS,
    )
    rolled = call("GET", ROLL_FORWARD, role="FINANCE", query={"from": MONTH, "to": MONTH})
    march = rolled.body["months"][0]["points"]
    assert result["closing"] == result["rollForwardClosing"] == march["closing"]
    assert (result["outstanding"], result["debts"]) == (march["outstanding"], march["debts"])
    assert (result["rollForwardOutstanding"], result["rollForwardDebts"]) == (
        march["outstanding"],
        march["debts"],
    )
    assert result["fileName"] == f"points-balances-{MONTH}.csv"
    expires = datetime.fromisoformat(result["linkExpiresAt"])
    assert expires - api.CLOCK() <= timedelta(minutes=15, seconds=5)

    # The link downloads the file: a row per account that existed at March's end.
    text = download(result["link"])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == CUSTOMERS
    assert sum(int(row["balance"]) for row in rows) == march["closing"]
    balances = {row["customerId"]: int(row["balance"]) for row in rows}
    end = month_end(MONTH)
    expected: dict[str, int] = {}
    for entry in entries:
        if entry.created_at <= end:
            expected[entry.customer_id] = expected.get(entry.customer_id, 0) + entry.points
    assert balances == expected
    assert balances["c-00005"] == 100 + 5  # its April redemption is not March's
    assert balances["c-00097"] < 0
    assert rows[0]["amountZar"] == f"{int(rows[0]['balance']) / 100:.2f}"


def test_the_reads_follow_the_accounts(export_env, service, dynamodb, table_name):
    """Each page lists its accounts with one Query of the index; only an account written
    since shortly before the month's end has its newest entries read."""
    for number in range(30):
        service.award(
            request(at("2025-12-05T10:00:00")), customer_id=f"old-{number}", amount=10, reason="x"
        )
    for number in range(6):
        service.award(
            request(at("2026-03-30T10:00:00")), customer_id=f"new-{number}", amount=10, reason="x"
        )
    queue, _ = export_env
    posted = call("POST", EXPORT, role="ADMIN", query={"asOf": MONTH})
    assert posted.status == 202, posted.body
    client = runtime().service.store.client
    queries: list[str] = []
    client.meta.events.register(
        "provide-client-params.dynamodb.Query",
        lambda params, **_: queries.append(params.get("IndexName", "entries")),
    )
    assert deliver(queue) == INDEX_SHARDS
    # A listing per shard, the entries of the six recent accounts, and the roll-forward's
    # and the pages' Queries of the last page.
    assert queries.count("AccountIndex") == INDEX_SHARDS
    assert queries.count("entries") == 6 + 2
    assert ACCOUNTS_PER_PAGE >= 36


@pytest.mark.parametrize("month", ["2026-13", "later"])
def test_a_bad_month_is_a_422_and_queues_nothing(export_env, month):
    queue, _ = export_env
    if month == "later":
        month = month_of(api.CLOCK() + timedelta(days=40))
    answer = call("POST", EXPORT, role="FINANCE", query={"asOf": month})
    assert (answer.status, answer.code) == (422, "VALIDATION_ERROR"), answer.body
    assert queue.receive(10) == []


def test_an_unknown_job_is_a_404(export_env):
    answer = call("GET", f"{EXPORT}/01JUNKNOWNJOB", role="FINANCE")
    assert (answer.status, answer.code) == (404, "NOT_FOUND"), answer.body


def test_the_sample_message_is_a_page_task():
    sample = json.loads((api.ROOT / "events" / "finance_export_message.json").read_text())
    body = json.loads(sample["Records"][0]["body"])
    assert set(body) == {"jobId", "asOf", "shard", "page", "after", "valuePerPointCents"}
    assert month_end(body["asOf"]) == datetime(2026, 3, 31, 21, 59, 59, 999_000, tzinfo=UTC)


def test_each_function_calls_only_what_its_policy_grants(export_env, service):
    for number in range(12):
        service.award(
            request(at("2026-03-30T10:00:00")), customer_id=f"p-{number}", amount=10, reason="x"
        )
    queue, _ = export_env
    use = PolicyUse()
    client = runtime().service.store.client
    client.meta.events.register("provide-client-params.dynamodb", use.record)
    try:
        use.function = "finance_balances_export"
        posted = call("POST", EXPORT, role="FINANCE", query={"asOf": MONTH})
        assert posted.status == 202, posted.body
        use.function = "finance_export_worker"
        deliver(queue)
        use.function = "finance_export_job"
        done = call("GET", f"{EXPORT}/{posted.body['jobId']}", role="FINANCE")
        assert done.body["status"] == "DONE"
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb", use.record)
    assert ("dynamodb:Query", "index/AccountIndex") in use.used["finance_export_worker"]
    assert ("dynamodb:PutItem", "table") in use.used["finance_balances_export"]
    assert use.not_granted() == {}


def test_an_account_written_before_the_index_gets_its_keys_from_the_rebuild(
    export_env, service, dynamodb, dynamodb_endpoint, table_name, capsys
):
    for number in range(3):
        service.award(
            request(at("2026-03-02T10:00:00")), customer_id=f"u-{number}", amount=10, reason="x"
        )
    # As an account last written by the version before the index has it.
    dynamodb.update_item(
        TableName=table_name,
        Key={"PK": {"S": "CUST#u-1"}, "SK": {"S": "STATE"}},
        UpdateExpression="REMOVE accountShard, accountSort",
    )
    # The operator's command, with a client of its own: its sweep is the one Scan allowed.
    store = LedgerStore(client(dynamodb_endpoint), table_name)

    def listed() -> set[str]:
        return {
            account.customer_id
            for shard in range(INDEX_SHARDS)
            for account in store.listed_accounts(shard)[0]
        }

    assert listed() == {"u-0", "u-2"}
    args = parser().parse_args(["--rebuild-analytics"])
    assert (
        reconcile_and_print(args, lambda: (store, table_name), lambda: at("2026-05-01T00:00:00"))
        == 0
    )
    assert "account index: 1 account added" in capsys.readouterr().err
    assert listed() == {"u-0", "u-1", "u-2"}
    assert (
        reconcile_and_print(args, lambda: (store, table_name), lambda: at("2026-05-01T00:00:00"))
        == 0
    )
    assert "account index: 0 accounts added" in capsys.readouterr().err


def same_shard(count: int, prefix: str) -> list[str]:
    """`count` customer ids that fall in one shard of the account index, in id order."""
    shard = index_shard(f"{prefix}-0")
    found = [f"{prefix}-{n}" for n in range(2_000) if index_shard(f"{prefix}-{n}") == shard]
    return sorted(found[:count])


class Tasks:
    """The export's queue, run in the order a test chooses."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def send(self, bodies: Sequence[str]) -> None:
        self.bodies.extend(bodies)


def test_a_page_delivered_again_goes_on_from_where_it_first_did(export_env, service, monkeypatch):
    """Pages of 2 accounts; the first page of a shard is recorded, then a customer who sorts
    into it is written, then the page is delivered again, and the queue runs newest first:
    the page is counted once and the shard goes on from where the first delivery went, so
    no account is in the file twice and the shard is done once."""
    monkeypatch.setattr(balances_export, "ACCOUNTS_PER_PAGE", 2)
    customers = same_shard(6, "pg")
    newcomer = customers[1]
    march = at("2026-03-05T10:00:00")
    for customer in customers:
        if customer != newcomer:
            service.award(request(march), customer_id=customer, amount=10, reason="x")
    functions = runtime()
    tasks = Tasks()
    exports = BalancesExports(
        functions.service.store,
        ExportStore(functions.service.store.client, functions.settings.table_name),
        queue=lambda: tasks,
        files=lambda: functions.export_files,
        analytics=functions.analytics,
    )
    job = exports.submit(Actor(user_id="fiona"), "pages", MONTH, api.CLOCK(), Decimal(1)).answer
    shard = index_shard(customers[0])
    (first_page,) = [b for b in tasks.bodies if json.loads(b)["shard"] == shard]
    tasks.bodies.remove(first_page)
    exports.process(first_page, datetime.now(UTC))
    service.award(request(march), customer_id=newcomer, amount=10, reason="x")
    exports.process(first_page, datetime.now(UTC))
    while tasks.bodies:
        exports.process(tasks.bodies.pop(), datetime.now(UTC))
    done = exports.view(job.job_id, datetime.now(UTC))
    assert done.status == "DONE"
    assert done.link is not None
    rows = list(csv.DictReader(io.StringIO(download(done.link))))
    ids = [row["customerId"] for row in rows]
    # Every account listed is in the file once; the newcomer, whom the first page's listing
    # had passed, is not.
    assert len(ids) == len(set(ids)) == done.accounts == 5
    assert newcomer not in ids
    assert done.shards_done == INDEX_SHARDS


def test_a_balance_is_that_of_the_entries_its_listing_counts(export_env, service):
    """An account index read just before a write (or lagging it) lists the balance before
    it: the entries read back are those that balance counts, not the one written since."""
    service.award(request(at("2026-03-30T10:00:00")), customer_id="lag", amount=100, reason="x")
    service.award(request(at("2026-04-02T10:00:00")), customer_id="lag", amount=50, reason="y")
    store = runtime().service.store
    before_april = ListedAccount(
        customer_id="lag",
        current_balance=100,
        entry_count=1,
        created_at=at("2026-03-30T10:00:00"),
        updated_at=at("2026-03-30T10:00:00"),
    )
    assert balance_at(before_april, month_end(MONTH), store) == 100
    (listed,) = [a for s in range(INDEX_SHARDS) for a in store.listed_accounts(s)[0]]
    assert (listed.current_balance, listed.entry_count) == (150, 2)
    assert balance_at(listed, month_end(MONTH), store) == 100


def test_without_a_month_the_export_is_of_the_last_month_that_is_over(export_env):
    posted = call("POST", EXPORT, role="FINANCE")
    assert posted.status == 202, posted.body
    assert posted.body["asOf"] == month_of(api.CLOCK().replace(day=1) - timedelta(days=1))
