"""Throughput of bulk awards, beside the same awards made one by one through POST /points/award.

Run from the repository root: `.venv/bin/python bench/bulk.py` (`make bench`), or with
`--quick` for smaller counts. It starts DynamoDB Local in memory (or uses the DynamoDB at
AWS_ENDPOINT_URL_DYNAMODB) and moto's server for SQS, creates a fresh table from
template.yaml and a queue, and drives the real handlers with the events API Gateway and
Lambda's SQS event source would send:

- accept: POST /points/bulk-award of 10,000 rows (JSON), then of the same as CSV: reading,
  checking and queueing them (SendMessageBatch), the part the caller waits for;
- bulk: POST /points/bulk-award of N rows, then the worker fed batches of 5 messages until the
  queue is empty (one worker, as one Lambda execution environment runs it);
- one by one: N POST /points/award requests, one after the other.

Every row awards a customer of its own, so no award waits on another's account. The figures
are relative (DynamoDB Local and moto share this machine's cores with the client).
"""

import argparse
import importlib.util
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Run as a script: make the shared layer and the repository root importable, as pytest does.
for _path in (ROOT, ROOT / "layers" / "shared"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from local.aws_services import AwsServices  # noqa: E402
from local.dynamodb_local import (  # noqa: E402
    LOCAL_ACCESS_KEY,
    REGION,
    client,
    dynamodb_endpoint,
)
from local.lambda_events import sqs_record  # noqa: E402
from local.template import create_table  # noqa: E402

WORKER_BATCH = 5  # the template's BatchSize
ACCEPT_ROWS = 10_000
ROWS_WARM_UP = 50


@dataclass
class LambdaContext:
    function_name: str = "bench"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:af-south-1:123456789012:function:bench"
    aws_request_id: str = "bench"


def handler(folder: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"bench_{folder}", ROOT / "functions" / folder / "handler.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def http_event(path: str, body: str, content_type: str) -> dict[str, Any]:
    """An HTTP API v2 POST by an ADMIN, in the shape of events/post_award_points.json."""
    event: dict[str, Any] = json.loads((ROOT / "events" / "post_award_points.json").read_text())
    event.update(routeKey=f"POST {path}", rawPath=path, body=body)
    context = event["requestContext"]
    context.update(routeKey=f"POST {path}", requestId=uuid.uuid4().hex[:12])
    context["http"]["path"] = path
    context["authorizer"]["jwt"]["claims"].update({"sub": "bench", "cognito:groups": "[ADMIN]"})
    event["headers"].update({"content-type": content_type, "idempotency-key": uuid.uuid4().hex})
    return event


def rows_of(count: int) -> list[dict[str, Any]]:
    run = uuid.uuid4().hex[:6]
    return [
        {"customerId": f"bench-{run}-{n}", "amount": 100, "reason": "Benchmark bonus"}
        for n in range(count)
    ]


def as_csv(rows: list[dict[str, Any]]) -> str:
    lines = [f"{row['customerId']},{row['amount']},{row['reason']}" for row in rows]
    return "customerId,amount,reason\n" + "\n".join(lines) + "\n"


@dataclass
class Figures:
    name: str
    rows: int
    seconds: float
    note: str = ""

    def line(self) -> str:
        rate = self.rows / self.seconds if self.seconds else float("inf")
        return f"{self.name:<28} {self.rows:>7,} {self.seconds:>9.2f} {rate:>10.1f}  {self.note}"


class Bench:
    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.bulk_award = handler("bulk_award")
        self.worker = handler("bulk_award_worker")
        self.award = handler("award_points")
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        self.queue_arn = attributes["Attributes"]["QueueArn"]

    def post_bulk(self, body: str, content_type: str) -> str:
        event = http_event("/api/crm/points/bulk-award", body, content_type)
        answer = self.bulk_award.lambda_handler(event, LambdaContext())
        assert answer["statusCode"] == 202, answer
        job_id: str = json.loads(answer["body"])["jobId"]
        return job_id

    def accept(self, media_type: str) -> Figures:
        rows = rows_of(ACCEPT_ROWS)
        body = json.dumps({"rows": rows}) if media_type == "json" else as_csv(rows)
        content_type = "application/json" if media_type == "json" else "text/csv"
        started = time.perf_counter()
        self.post_bulk(body, content_type)
        seconds = time.perf_counter() - started
        messages = self.purge()
        return Figures(f"accept ({media_type})", ACCEPT_ROWS, seconds, f"{messages} messages")

    def purge(self) -> int:
        """Empty the queue (the accept runs' rows are not awarded); messages removed."""
        removed = 0
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = batch.get("Messages", [])
            if not messages:
                return removed
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )
            removed += len(messages)

    def bulk(self, count: int) -> tuple[Figures, Figures]:
        rows = rows_of(count)
        started = time.perf_counter()
        self.post_bulk(json.dumps({"rows": rows}), "application/json")
        accepted = time.perf_counter()
        invocations = 0
        while True:
            received = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=WORKER_BATCH, AttributeNames=["All"]
            ).get("Messages", [])
            if not received:
                break
            answer = self.worker.lambda_handler(self.sqs_event(received), LambdaContext())
            assert answer["batchItemFailures"] == [], answer
            invocations += 1
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(received)
                ],
            )
        finished = time.perf_counter()
        return (
            Figures(
                "bulk: worker only", count, finished - accepted, f"{invocations} worker invocations"
            ),
            Figures("bulk: POST + worker", count, finished - started),
        )

    def sqs_event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {"Records": [sqs_record(m, self.queue_arn, REGION) for m in messages]}

    def one_by_one(self, count: int) -> Figures:
        rows = rows_of(count)
        started = time.perf_counter()
        for row in rows:
            event = http_event("/api/crm/points/award", json.dumps(row), "application/json")
            answer = self.award.lambda_handler(event, LambdaContext())
            assert answer["statusCode"] == 201, answer
        return Figures("one by one: POST /award", count, time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer rows (a smoke run)")
    parser.add_argument("--rows", type=int, default=None, help="rows awarded each way")
    arguments = parser.parse_args()
    count = arguments.rows or (200 if arguments.quick else 1_000)

    with dynamodb_endpoint() as endpoint, AwsServices() as services:
        table = f"crm-points-bench-{uuid.uuid4().hex[:8]}"
        create_table(client(endpoint), table)
        sqs = services.client("sqs")
        queue_url = sqs.create_queue(QueueName=f"bench-bulk-{uuid.uuid4().hex[:6]}")["QueueUrl"]
        os.environ.update(
            {
                "TABLE_NAME": table,
                "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": LOCAL_ACCESS_KEY,
                "BULK_AWARD_QUEUE_URL": queue_url,
                "POWERTOOLS_LOG_LEVEL": "WARNING",
                **services.environment(),
            }
        )
        bench = Bench(sqs, queue_url)
        bench.one_by_one(20)  # warm up: cold starts, configuration read
        bench.bulk(ROWS_WARM_UP)
        figures = [bench.accept("json"), bench.accept("csv")]
        worker, total = bench.bulk(count)
        single = bench.one_by_one(count)
        figures += [worker, total, single]

    print(f"{'measurement':<28} {'rows':>7} {'seconds':>9} {'rows/s':>10}  note")
    print("-" * 78)
    for figure in figures:
        print(figure.line())
    ratio = (count / total.seconds) / (count / single.seconds)
    print(f"\nbulk (POST + worker) against one by one: {ratio:.2f}x the rows per second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
