"""Fixtures shared by the API's integration tests."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from crm_points.alert_store import AlertStore
from crm_points.alerts import AlertType, new_alert
from crm_points.models import Actor
from crm_points.service import PointsService
from tests.conftest import START, request


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
    )
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
