"""Fixtures shared by the API's integration tests."""

from dataclasses import dataclass
from datetime import timedelta

import pytest

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
    return World(customer_id, lot_id, expired.transactions[0].transaction_id, approval.approval_id)
