"""Fixtures shared by the API's integration tests."""

import io
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from crm_points.alert_store import AlertStore
from crm_points.alerts import AlertType, new_alert
from crm_points.ledger_service import PointsService
from crm_points.logs import logger
from crm_points.records import Actor
from local.dynamodb_local import client
from local.template import create_table
from tests.conftest import START, request


@contextmanager
def table_of_its_own(endpoint: str, purpose: str, stream: bool = True) -> Iterator[str]:
    """A table for one test alone, dropped after it: for what is table-wide (the analytics
    aggregates, closed months, a sweep's Scan), which other tests' items must not be in."""
    dynamodb = client(endpoint)
    name = f"crm-points-{purpose}-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb, name, stream=stream)
    try:
        yield name
    finally:
        dynamodb.delete_table(TableName=name)


@dataclass
class World:
    """A customer with points, a lot, an expired entry and a pending approval."""

    customer_id: str
    lot_id: str
    expire_id: str
    approval_id: str
    alert_id: str = ""


@pytest.fixture
def world(service: PointsService, customer_id: str) -> World:
    lot = service.award(request(), customer_id=customer_id, amount=20_000, reason="Points")
    service.award(
        request(),
        customer_id=customer_id,
        amount=100,
        reason="Short lot",
        expiry_date=START + timedelta(days=1),
    )
    expired = service.expire(
        customer_id=customer_id, now=START + timedelta(days=2), request_id="run"
    )
    assert expired is not None
    approval = service.request_deduction(
        request(actor=Actor(user_id="requester", role="MANAGER")),
        customer_id=customer_id,
        amount=100,
        reason="Goodwill reversal",
    ).answer
    lot_id = lot.transactions[0].point_batch_id
    assert lot_id is not None
    alert, _ = AlertStore(service.store.client, service.store.table).raise_alert(
        new_alert(
            AlertType.LARGE_REDEMPTION,
            now=START,
            message="A redemption of 12,000 points",
            data={"points": 12_000},
            customer_id=customer_id,
        ),
        trigger_key=f"world:{customer_id}",
    )
    return World(
        customer_id,
        lot_id,
        expired.transactions[0].transaction_id,
        approval.approval_id,
        alert.alert_id,
    )


@pytest.fixture
def bulk_award_queue(aws_env: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A queue on moto's server as BULK_AWARD_QUEUE_URL, as template.yaml gives the bulk-award
    function one."""
    from crm_points.runtime import BULK_QUEUE_URL_VARIABLE, runtime

    sqs = aws_env.client("sqs")
    url = sqs.create_queue(QueueName=f"bulk-award-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    monkeypatch.setenv(BULK_QUEUE_URL_VARIABLE, url)
    runtime.cache_clear()
    yield url
    runtime.cache_clear()
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def export_destinations(aws_env: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """A queue and a bucket on moto's server as EXPORT_QUEUE_URL and EXPORT_BUCKET, as
    template.yaml gives finance's balances export functions theirs."""
    from crm_points.runtime import runtime

    sqs, s3 = aws_env.client("sqs"), aws_env.client("s3")
    url = sqs.create_queue(QueueName=f"export-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    bucket = f"export-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "af-south-1"})
    monkeypatch.setenv("EXPORT_QUEUE_URL", url)
    monkeypatch.setenv("EXPORT_BUCKET", bucket)
    runtime.cache_clear()
    yield url, bucket
    runtime.cache_clear()
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def printed(capsys: pytest.CaptureFixture[str]) -> Iterator["Printed"]:
    """What the handlers run in the test print: EMF lines on stdout, and the shared logger's
    lines, read through a handler of the test's with the logger's own formatter."""
    lines = io.StringIO()
    reader = logging.StreamHandler(lines)
    reader.setFormatter(logger.registered_formatter)
    logger.addHandler(reader)
    capsys.readouterr()
    yield Printed(capsys, lines)
    logging.getLogger(logger.name).removeHandler(reader)


class Printed:
    def __init__(self, capsys: pytest.CaptureFixture[str], logged: io.StringIO) -> None:
        self.capsys = capsys
        self.logged = logged
        self.lines: list[dict[str, Any]] = []

    def read(self) -> "Printed":
        text = self.capsys.readouterr().out + self.logged.getvalue()
        self.logged.seek(0)
        self.logged.truncate()
        for line in text.splitlines():
            if line.startswith("{"):
                self.lines.append(json.loads(line))
        return self

    def metric(self, name: str, **dims: str) -> list[float]:
        """Every value printed for this metric (a line with these dimensions, and `service`)."""
        values: list[float] = []
        for line in self.lines:
            for directive in line.get("_aws", {}).get("CloudWatchMetrics", []):
                names = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
                if name not in names:
                    continue
                assert directive["Namespace"] == "CrmPoints"
                assert names[name] == "Count"
                assert line["service"] == "crm-points"
                wanted = {"service", *dims}
                assert any(set(d) == wanted for d in directive["Dimensions"]), directive
                if all(line.get(k) == v for k, v in dims.items()):
                    value = line[name]
                    values.extend(value if isinstance(value, list) else [value])
        return values

    def logs(self, message: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("message") == message]
