"""Bulk awards through the real handlers: POST /points/bulk-award (JSON and CSV), the worker
fed by SQS (moto's server) as Lambda's event source mapping feeds it, and GET
/points/bulk-jobs/{jobId}, all on DynamoDB Local."""

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError

from crm_points.bulk import ROWS_PER_MESSAGE
from crm_points.bulk_store import job_pk
from crm_points.dynamo import to_item
from crm_points.ledger_store import request_pk
from crm_points.runtime import BULK_QUEUE_URL_VARIABLE, runtime
from local.lambda_events import reported_failures, sqs_record
from local.queues import messages_outstanding
from tests import api
from tests.api import Answer, call
from tests.iam import PolicyUse

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "events" / "bulk_award_message.json").read_text())
BULK = "/api/crm/points/bulk-award"
ADMIN = "admin-1"


@dataclass
class Queue:
    """The bulk-award queue on moto's server, and a client of it."""

    sqs: Any
    url: str

    def waiting(self) -> int:
        return messages_outstanding(self.sqs, self.url)

    def receive(self, most: int = 10) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=most,
            AttributeNames=["All"],
            VisibilityTimeout=30,
        ).get("Messages", [])
        return messages

    def release(self, message: dict[str, Any]) -> None:
        """Make a message visible again at once (SQS would, after its visibility timeout)."""
        self.sqs.change_message_visibility(
            QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )

    def delete(self, message: dict[str, Any]) -> None:
        self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def queue(
    aws_env: Any, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Queue]:
    """A fresh queue, named in the POST function's environment as the template names it."""
    sqs = aws_env.client("sqs")
    url = sqs.create_queue(QueueName=f"bulk-award-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    # Set before the functions' environment is made (lambda_env): the settings are read once,
    # at the cold start.
    monkeypatch.setenv(BULK_QUEUE_URL_VARIABLE, url)
    request.getfixturevalue("lambda_env")
    yield Queue(sqs, url)
    runtime.cache_clear()
    sqs.delete_queue(QueueUrl=url)


def sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The SQS event Lambda would deliver for these messages, as from the queue of
    events/bulk_award_message.json."""
    source = SAMPLE["Records"][0]
    return {
        "Records": [
            sqs_record(message, source["eventSourceARN"], source["awsRegion"])
            for message in messages
        ]
    }


def deliver(messages: list[dict[str, Any]]) -> set[str]:
    """Invoke the worker with these messages; the ids of those it reports as failed."""
    worker = api.handler("bulk_award_worker")
    answer = worker.lambda_handler(sqs_event(messages), api.LambdaContext())
    return set(reported_failures(answer, [message["MessageId"] for message in messages]))


def drain(queue: Queue, batch: int = 5, rounds: int = 100) -> None:
    """Run the worker as the event source mapping does until the queue is empty: batches of
    `batch`, successful messages deleted, failed ones delivered again."""
    for _ in range(rounds):
        messages = queue.receive(batch)
        if not messages:
            return
        failed = deliver(messages)
        for message in messages:
            if message["MessageId"] in failed:
                queue.release(message)
            else:
                queue.delete(message)
    raise AssertionError("the queue did not drain")


def post_csv(text: str, *, key: str | None = None, role: str = "ADMIN") -> Answer:
    """POST /points/bulk-award with a text/csv body, as API Gateway delivers it."""
    event = json.loads((ROOT / "events" / "post_award_points.json").read_text())
    event.update(routeKey=f"POST {BULK}", rawPath=BULK, body=text)
    event["requestContext"].update(routeKey=f"POST {BULK}", requestId=uuid.uuid4().hex[:12])
    event["requestContext"]["http"]["path"] = BULK
    event["requestContext"]["authorizer"]["jwt"]["claims"].update(
        {"sub": ADMIN, "cognito:groups": f"[{role}]"}
    )
    event["headers"].update(
        {"content-type": "text/csv; charset=utf-8", "idempotency-key": key or uuid.uuid4().hex}
    )
    response = api.handler("bulk_award").lambda_handler(event, api.LambdaContext())
    return Answer(response["statusCode"], json.loads(response["body"]), response["headers"])


def post_rows(rows: Any, *, key: str | None = None, role: str = "ADMIN") -> Answer:
    return call("POST", BULK, role=role, user=ADMIN, body={"rows": rows}, key=key)


def job_page(job_id: str, **query: Any) -> Answer:
    return call(
        "GET",
        f"/api/crm/points/bulk-jobs/{job_id}",
        role="ADMIN",
        user=ADMIN,
        query={name: str(value) for name, value in query.items()} or None,
    )


def all_rows(job_id: str, limit: int = 100) -> list[dict[str, Any]]:
    page = job_page(job_id, limit=limit).body
    rows: list[dict[str, Any]] = page["rows"]
    while page["nextCursor"]:
        page = job_page(job_id, limit=limit, cursor=page["nextCursor"]).body
        assert page["job"] is None
        rows += page["rows"]
    return rows


def balance(customer: str) -> int:
    return runtime().service.account(customer).current_balance


def new_customer() -> str:
    return f"bulk-{uuid.uuid4().hex[:10]}"


# -- accepting a job ---------------------------------------------------------------------------


def test_a_json_job_awards_the_good_rows_and_each_bad_row_fails_alone_with_its_reason(queue):
    alice, bob = new_customer(), new_customer()
    rows = [
        {"customerId": alice, "amount": 500, "reason": "Loyalty weekend"},
        {"customerId": bob, "amount": 250, "reason": "Loyalty weekend", "expiryDate": "2031-06-30"},
        {"customerId": "not an id", "amount": 100, "reason": "Loyalty weekend"},
        {"customerId": alice, "amount": 0, "reason": "Loyalty weekend"},
        {"customerId": alice, "amount": 1_000_001, "reason": "Loyalty weekend"},
        {"customerId": alice, "amount": 100, "reason": "no"},
        {"customerId": alice, "amount": 100, "reason": "x" * 501},
        {"customerId": alice, "amount": 100, "reason": "Too late", "expiryDate": "2020-01-01"},
        {"customerId": alice, "amount": 100, "reason": "Unknown field", "notifyCustomer": True},
        {"customerId": alice, "amount": "100", "reason": "Amount as text"},
        {"customerId": alice, "amount": 75, "reason": "Second award to the same customer"},
    ]
    answer = post_rows(rows)
    assert answer.status == 202, answer.body
    job = answer.body
    assert (job["status"], job["totalRows"], job["pending"]) == ("QUEUED", 11, 11)
    assert answer.headers["Location"] == f"/api/crm/points/bulk-jobs/{job['jobId']}"
    assert answer.headers["Idempotent-Replayed"] == "false"

    drain(queue)

    page = job_page(job["jobId"]).body
    assert page["job"]["status"] == "COMPLETED_WITH_ERRORS"
    assert (page["job"]["succeeded"], page["job"]["failed"], page["job"]["pending"]) == (3, 8, 0)
    by_row = {row["rowNumber"]: row for row in page["rows"]}
    assert [by_row[n]["status"] for n in range(1, 12)] == ["AWARDED"] * 2 + ["FAILED"] * 8 + [
        "AWARDED"
    ]
    for number in (3, 4, 5, 6, 7, 8, 9, 10):
        assert by_row[number]["error"]["code"] == "VALIDATION_ERROR", by_row[number]
        assert by_row[number]["transactionId"] is None
    assert "customerId" in by_row[3]["error"]["message"]
    assert "amount" in by_row[4]["error"]["message"]
    assert "reason" in by_row[6]["error"]["message"]
    assert "expiryDate" in by_row[8]["error"]["message"]
    assert "notifyCustomer" in by_row[9]["error"]["message"]
    assert by_row[3]["customerId"] == "not an id"
    assert balance(alice) == 575
    assert balance(bob) == 250
    entry = runtime().service.store.read_history(bob, 1, None)[1][0]
    assert entry.transaction_id == by_row[2]["transactionId"]
    assert (entry.type, entry.actor.user_id, entry.actor.role) == ("AWARD", ADMIN, "ADMIN")
    assert entry.expires_at is not None
    assert entry.expires_at.isoformat().startswith("2031-06-30T21:59:59")


def test_a_csv_job_is_read_by_its_header(queue):
    alice, bob, carol = new_customer(), new_customer(), new_customer()
    text = (
        "\ufeffcustomerId,amount,reason,expiryDate\r\n"
        f'{alice},500,"Weekend, with a comma",2031-01-31\r\n'
        f"{bob}, 250 ,Loyalty weekend,\r\n"
        "\r\n"
        f'{carol},120,"He said ""thanks""",\r\n'
        f"{carol},12x,Not a number,\r\n"
        f"{carol},5\r\n"
    )
    answer = post_csv(text)
    assert answer.status == 202, answer.body
    assert answer.body["totalRows"] == 5

    drain(queue)

    rows = all_rows(answer.body["jobId"])
    assert [row["status"] for row in rows] == ["AWARDED"] * 3 + ["FAILED"] * 2
    assert "amount" in rows[3]["error"]["message"]
    assert "expected 4 fields" in rows[4]["error"]["message"]
    assert (balance(alice), balance(bob), balance(carol)) == (500, 250, 120)
    entries = runtime().service.store.read_history(carol, 1, None)[1]
    assert entries[0].reason == 'He said "thanks"'


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("not json", "application/json"),
        ('{"rows": []}', "application/json"),
        ('{"rows": {}}', "application/json"),
        ('{"rows": [1, 2]}', "application/json"),
        ('{"rows": [{"customerId": "a", "amount": 1, "reason": "abc"}], "dryRun": true}', None),
        ("[]", "application/json"),
        ("customerId,amount\nc,1\n", "text/csv"),
        ("customerId,amount,reason\n", "text/csv"),
        ("customerId,amount,reason\n\r\n\n", "text/csv"),
        ("amount,customerId,reason\n5,c,Bonus\n", "text/csv"),
        ("customerId=c&amount=5", "application/x-www-form-urlencoded"),
        ("c,5,Bonus", "text/plain"),
        # A cell past the CSV parser's field limit.
        ("customerId,amount,reason\nc-1,5," + "x" * 131_073 + "\n", "text/csv"),
        # JSON rows without a Content-Type saying so.
        ('{"rows": [{"customerId": "a", "amount": 1, "reason": "abc"}]}', ""),
    ],
)
def test_a_body_that_is_not_rows_is_refused_and_creates_nothing(queue, body, content_type):
    key = uuid.uuid4().hex
    event_body = body
    if content_type == "text/csv":
        answer = post_csv(event_body, key=key)
    else:
        answer = _post_raw(
            event_body, "application/json" if content_type is None else content_type, key
        )
    assert (answer.status, answer.code) == (422, "VALIDATION_ERROR"), answer.body
    assert answer.body["requestId"]
    assert _nothing_created(key, queue)


def _post_raw(body: str, content_type: str, key: str, base64_encoded: bool = False) -> Answer:
    event = json.loads((ROOT / "events" / "post_award_points.json").read_text())
    event.update(routeKey=f"POST {BULK}", rawPath=BULK, body=body, isBase64Encoded=base64_encoded)
    event["requestContext"].update(routeKey=f"POST {BULK}")
    event["requestContext"]["http"]["path"] = BULK
    event["requestContext"]["authorizer"]["jwt"]["claims"].update(
        {"sub": ADMIN, "cognito:groups": "[ADMIN]"}
    )
    event["headers"].update({"content-type": content_type, "idempotency-key": key})
    if not content_type:
        del event["headers"]["content-type"]
    response = api.handler("bulk_award").lambda_handler(event, api.LambdaContext())
    return Answer(response["statusCode"], json.loads(response["body"]), response["headers"])


def _nothing_created(key: str, queue: Queue) -> bool:
    record = runtime().service.store.client.get_item(
        TableName=runtime().settings.table_name,
        Key=to_item({"PK": request_pk(ADMIN, key), "SK": "REQUEST"}),
        ConsistentRead=True,
    )
    return "Item" not in record and queue.waiting() == 0


def test_a_body_that_is_not_utf8_is_refused(queue):
    import base64

    key = uuid.uuid4().hex
    answer = _post_raw(
        base64.b64encode(b"customerId,amount,reason\n\xff,1,abc\n").decode(), "text/csv", key, True
    )
    assert (answer.status, answer.code) == (422, "VALIDATION_ERROR")
    assert _nothing_created(key, queue)


def test_10000_rows_are_accepted_and_10001_refused_with_nothing_created(queue):
    rows = [
        {"customerId": f"many-{n % 500}", "amount": 10, "reason": "Ten thousand rows"}
        for n in range(10_000)
    ]
    answer = post_rows(rows)
    assert answer.status == 202, answer.body
    assert answer.body["totalRows"] == 10_000
    assert queue.waiting() == 10_000 // ROWS_PER_MESSAGE

    key = uuid.uuid4().hex
    refused = post_rows([*rows, rows[0]], key=key)
    assert (refused.status, refused.code) == (422, "VALIDATION_ERROR")
    assert "10,000" in refused.body["error"]["message"]
    record = runtime().service.store.client.get_item(
        TableName=runtime().settings.table_name,
        Key=to_item({"PK": request_pk(ADMIN, key), "SK": "REQUEST"}),
    )
    assert "Item" not in record
    assert queue.waiting() == 10_000 // ROWS_PER_MESSAGE

    csv_rows = "".join(f"many-{n % 500},10,Ten thousand rows\n" for n in range(10_001))
    too_many = post_csv("customerId,amount,reason\n" + csv_rows)
    assert (too_many.status, too_many.code) == (422, "VALIDATION_ERROR")
    assert queue.waiting() == 10_000 // ROWS_PER_MESSAGE


def test_a_replayed_post_answers_the_same_job_and_another_body_with_its_key_is_refused(queue):
    customer = new_customer()
    rows = [{"customerId": customer, "amount": 40, "reason": "Replayed"}]
    first = post_rows(rows, key="bulk-replay-" + customer)
    again = post_rows(rows, key="bulk-replay-" + customer)
    assert (first.status, again.status) == (202, 202)
    assert again.body == first.body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert queue.waiting() == 1, "the replay queued nothing"

    other = post_rows([*rows, *rows], key="bulk-replay-" + customer)
    assert (other.status, other.code) == (422, "IDEMPOTENCY_KEY_REUSED")

    drain(queue)
    assert balance(customer) == 40


def test_a_post_whose_rows_could_not_be_queued_is_completed_by_its_replay(queue):
    customer = new_customer()
    rows = [{"customerId": customer, "amount": 60, "reason": "Queue was down"}]
    sqs_events = runtime().bulk_queue.client.meta.events

    def queue_down(**_: Any) -> None:
        raise ConnectionClosedError(endpoint_url=queue.url)

    sqs_events.register("before-call.sqs.SendMessageBatch", queue_down)
    try:
        failed = post_rows(rows, key="bulk-down-" + customer)
    finally:
        sqs_events.unregister("before-call.sqs.SendMessageBatch", queue_down)
    assert (failed.status, failed.code) == (409, "CONFLICT"), failed.body
    assert failed.body["error"]["details"]["retryable"] is True
    assert queue.waiting() == 0

    retried = post_rows(rows, key="bulk-down-" + customer)
    assert retried.status == 202
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert queue.waiting() == 1
    drain(queue)
    assert job_page(retried.body["jobId"]).body["job"]["status"] == "COMPLETED"
    assert balance(customer) == 60


# -- the worker ----------------------------------------------------------------------------


def test_a_message_delivered_twice_awards_once_and_counts_once(queue):
    customers = [new_customer() for _ in range(3)]
    answer = post_rows([{"customerId": c, "amount": 30, "reason": "Twice"} for c in customers])
    (message,) = queue.receive()

    assert deliver([message]) == set()
    assert deliver([message]) == set()
    assert deliver([message, message]) == set()

    job = job_page(answer.body["jobId"]).body["job"]
    assert (job["status"], job["succeeded"], job["failed"], job["pending"]) == (
        "COMPLETED",
        3,
        0,
        0,
    )
    assert [balance(c) for c in customers] == [30, 30, 30]
    for customer in customers:
        assert len(runtime().service.store.read_history(customer, 10, None)[1]) == 1


def test_an_award_made_before_a_crash_is_counted_once_on_redelivery(queue):
    """The worker stopped after a row's award and before its result: the next delivery
    finds the award (same idempotency key) and records it once."""
    from datetime import UTC, datetime

    from crm_points.ledger_service import Request
    from crm_points.records import Actor

    customer = new_customer()
    answer = post_rows([{"customerId": customer, "amount": 45, "reason": "Crash"}])
    job_id = answer.body["jobId"]
    (message,) = queue.receive()
    chunk = json.loads(message["Body"])
    first = runtime().service.award(
        Request(
            Actor(user_id=ADMIN, role="ADMIN"),
            chunk["requestId"],
            datetime.now(UTC),
            f"bulk:{job_id}:1",
        ),
        customer_id=customer,
        amount=45,
        reason="Crash",
    )

    assert deliver([message]) == set()

    (row,) = job_page(job_id).body["rows"]
    assert (row["status"], row["transactionId"]) == (
        "AWARDED",
        first.transactions[0].transaction_id,
    )
    assert balance(customer) == 45


def test_a_transient_failure_fails_only_its_message_and_the_retry_completes_the_job(queue):
    customers = [new_customer() for _ in range(2 * ROWS_PER_MESSAGE + 10)]
    down = customers[ROWS_PER_MESSAGE + 5]  # the sixth row of the second message
    answer = post_rows([{"customerId": c, "amount": 7, "reason": "Outage"} for c in customers])
    job_id = answer.body["jobId"]
    messages = sorted(queue.receive(), key=lambda m: json.loads(m["Body"])["rows"][0]["rowNumber"])
    assert len(messages) == 3

    client = runtime().service.store.client
    unavailable = f"CUST#{down}"

    def connection_lost(params: dict[str, Any], **_: Any) -> None:
        # The account is read with a Query of its partition.
        if params.get("ExpressionAttributeValues", {}).get(":pk", {}).get("S") == unavailable:
            raise ConnectionClosedError(endpoint_url="https://dynamodb.invalid")

    client.meta.events.register("before-parameter-build.dynamodb.Query", connection_lost)
    try:
        failed = deliver(messages)
    finally:
        client.meta.events.unregister("before-parameter-build.dynamodb.Query", connection_lost)

    assert failed == {messages[1]["MessageId"]}
    job = job_page(job_id).body["job"]
    # The first and third messages are done; the second stopped at its sixth row.
    assert (job["status"], job["succeeded"], job["pending"]) == ("RUNNING", 65, 45)

    assert deliver([messages[1]]) == set()
    job = job_page(job_id).body["job"]
    assert (job["status"], job["succeeded"], job["failed"]) == ("COMPLETED", 110, 0)
    assert balance(down) == 7
    assert [row["rowNumber"] for row in all_rows(job_id, limit=7)] == list(range(1, 111))


def test_a_message_that_is_not_a_job_chunk_fails_alone(queue):
    customer = new_customer()
    post_rows([{"customerId": customer, "amount": 9, "reason": "Good message"}])
    (good,) = queue.receive()
    bad = {**good, "MessageId": "not-ours", "Body": '{"hello": "world"}'}
    assert deliver([bad, good]) == {"not-ours"}
    assert balance(customer) == 9


def test_the_sample_event_is_a_message_the_worker_reads(queue):
    """events/bulk_award_message.json carries a real message body: its rows, once its job
    exists, are awarded as any other."""
    sample = json.loads((ROOT / "events" / "bulk_award_message.json").read_text())
    body = json.loads(sample["Records"][0]["body"])
    customer = new_customer()
    answer = post_rows([{"customerId": customer, "amount": 500, "reason": "Loyalty weekend"}] * 3)
    body["jobId"] = answer.body["jobId"]
    for row in body["rows"]:
        if "error" not in row:
            row["customerId"] = customer
    sample["Records"][0]["body"] = json.dumps(body)
    worker = api.handler("bulk_award_worker")
    assert worker.lambda_handler(sample, api.LambdaContext()) == {"batchItemFailures": []}
    job = job_page(answer.body["jobId"]).body["job"]
    assert (job["succeeded"], job["failed"]) == (2, 1)
    assert balance(customer) == 750


# -- reading a job ---------------------------------------------------------------------------


def test_each_page_of_a_job_is_one_dynamodb_request(queue, lambda_env):
    customer = new_customer()
    answer = post_rows(
        [{"customerId": customer, "amount": 1, "reason": f"Row {n}"} for n in range(12)]
    )
    drain(queue)
    job_id = answer.body["jobId"]

    lambda_env.reset()
    first = job_page(job_id, limit=5)
    assert dict(lambda_env.calls) == {"Query": 1}
    assert first.body["job"]["totalRows"] == 12
    assert [row["rowNumber"] for row in first.body["rows"]] == [1, 2, 3, 4, 5]

    lambda_env.reset()
    second = job_page(job_id, limit=5, cursor=first.body["nextCursor"])
    assert dict(lambda_env.calls) == {"Query": 1}
    assert [row["rowNumber"] for row in second.body["rows"]] == [6, 7, 8, 9, 10]

    last = job_page(job_id, limit=5, cursor=second.body["nextCursor"])
    assert ([row["rowNumber"] for row in last.body["rows"]], last.body["nextCursor"]) == (
        [11, 12],
        None,
    )


def test_an_unknown_job_is_404_and_a_forged_cursor_422(queue):
    assert job_page("no-such-job").code == "NOT_FOUND"
    assert job_page("no-such-job", cursor="bm90LWEtY3Vyc29y").code == "VALIDATION_ERROR"
    assert job_page("no such job").code == "VALIDATION_ERROR"


@pytest.mark.parametrize("role", ["SUPPORT_AGENT", "MANAGER", "BOOKING_SYSTEM"])
def test_bulk_operations_are_for_admins_only(queue, role):
    key = uuid.uuid4().hex
    answer = post_rows(
        [{"customerId": "c1", "amount": 1, "reason": "Not allowed"}], key=key, role=role
    )
    assert (answer.status, answer.code) == (403, "FORBIDDEN")
    assert _nothing_created(key, queue)
    csv_answer = post_csv("customerId,amount,reason\nc1,1,Not allowed\n", role=role)
    assert (csv_answer.status, csv_answer.code) == (403, "FORBIDDEN")
    page = call("GET", f"/api/crm/points/bulk-jobs/{job_pk('x')[8:]}", role=role)
    assert (page.status, page.code) == (403, "FORBIDDEN")


def test_the_worker_makes_only_the_calls_its_policy_allows(queue):
    """What tests/integration/test_iam_policies.py checks for the HTTP functions, for the
    worker: every DynamoDB call of a delivery, a redelivery and a refused row."""
    use = PolicyUse()
    use.function = "bulk_award_worker"
    customer = new_customer()
    post_rows(
        [
            {"customerId": customer, "amount": 3, "reason": "Policy check"},
            {"customerId": "bad id", "amount": 3, "reason": "Policy check"},
        ]
    )
    (message,) = queue.receive()
    client = runtime().service.store.client
    client.meta.events.register("provide-client-params.dynamodb", use.record)
    try:
        assert deliver([message]) == set()
        assert deliver([message]) == set()
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb", use.record)
    used = {action for action, _ in use.used["bulk_award_worker"]}
    assert {"dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:PutItem"} <= used
    assert use.not_granted() == {}
