"""Faults injected through botocore hooks at every DynamoDB call of an operation: nothing is
left half-written, and the retry gives the right answer once."""

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ConnectionClosedError

from crm_points.config import PointsConfig
from crm_points.ledger_service import PointsService
from crm_points.ledger_store import LedgerStore
from crm_points.records import PostingResult
from tests.conftest import START, request


class _Body:
    def __init__(self, payload: dict[str, Any]) -> None:
        self._payload = json.dumps(payload).encode()

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._payload


def error_response(status: int, code: str, **extra: Any) -> AWSResponse:
    """A DynamoDB JSON error response, as the service would send it."""
    body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": code, **extra}
    headers = HTTPHeaders()
    headers["Content-Type"] = "application/x-amz-json-1.0"
    headers["x-amzn-RequestId"] = "fault"
    return AWSResponse("https://fault.invalid", status, headers, _Body(body))


@dataclass
class Fault:
    """One fault, fired once at the `at`-th DynamoDB API call of the operation."""

    kind: str
    at: int
    calls: int = 0
    fired: bool = False
    operation: str = ""

    def install(self, dynamodb: Any) -> None:
        events = dynamodb.meta.events
        events.register("before-call.dynamodb", self._count)
        events.register("before-send.dynamodb", self._before_send)
        events.register("after-call.dynamodb", self._after_call)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls += 1
        if self.calls == self.at:
            self.operation = model.name

    def _armed(self) -> bool:
        return self.calls == self.at and not self.fired

    def _before_send(self, **_: Any) -> AWSResponse | None:
        if not self._armed() or self.kind == "dropped after the call":
            return None
        if self.kind == "dropped before sending":
            self.fired = True
            raise ConnectionClosedError(endpoint_url="https://fault.invalid")
        self.fired = True
        if self.kind == "throttled":
            return error_response(400, "ThrottlingException")
        if self.operation == "TransactWriteItems":
            reasons = [{"Code": "TransactionConflict", "Message": "conflict"}]
            return error_response(400, "TransactionCanceledException", CancellationReasons=reasons)
        return error_response(500, "InternalServerError")

    def _after_call(self, **_: Any) -> None:
        # The call reached DynamoDB and took effect; only its answer is lost.
        if self._armed() and self.kind == "dropped after the call":
            self.fired = True
            raise ConnectionClosedError(endpoint_url="https://fault.invalid")


Operation = Callable[[PointsService, str], PostingResult]


def _award(service: PointsService, customer_id: str) -> PostingResult:
    return service.award(
        request(key=f"award-{customer_id}"),
        customer_id=customer_id,
        amount=300,
        reason="Faulty award",
    )


def _redeem(service: PointsService, customer_id: str) -> PostingResult:
    return service.redeem(
        request(key=f"redeem-{customer_id}"),
        customer_id=customer_id,
        amount=150,
        reason="Faulty redeem",
        booking_id=f"bk-r-{customer_id}",
    )


def _earn(service: PointsService, customer_id: str, booking: str = "new") -> PostingResult:
    return service.complete_booking(
        request(),
        customer_id=customer_id,
        booking_id=f"bk-{booking}-{customer_id}",
        completed_at=START,
        amount_cents=40_000,
    )


def _reverse(service: PointsService, customer_id: str) -> PostingResult:
    return service.reverse_booking(
        request(), customer_id=customer_id, booking_id=f"bk-old-{customer_id}", reason="Cancelled"
    )


OPERATIONS: dict[str, tuple[Operation, int]] = {
    # name: (operation, DynamoDB calls it makes without faults)
    "award": (_award, 2),
    "redeem": (_redeem, 2),
    "earn": (_earn, 2),
    "reverse": (_reverse, 3),
}
FAULTS = ["throttled", "cancelled or 500", "dropped before sending", "dropped after the call"]


def prepare(service: PointsService, customer_id: str) -> None:
    """Every operation above starts from the same account: 1,000 points and one booking."""
    service.award(request(), customer_id=customer_id, amount=1_000, reason="Opening")
    _earn(service, customer_id, booking="old")


def outcome(service: PointsService, customer_id: str) -> tuple[Any, ...]:
    """What the account and its history look like, without ids and times."""
    account = service.account(customer_id)
    _, entries, _ = service.store.read_history(customer_id, 100, None)
    return (
        account.current_balance,
        account.lifetime_earned,
        account.lifetime_redeemed,
        account.entry_count,
        [(e.type, e.points, e.balance_after) for e in entries],
    )


@pytest.fixture
def make_service(store: LedgerStore, dynamodb: Any) -> Callable[[], PointsService]:
    def build() -> PointsService:
        return PointsService(store, PointsConfig(), sleep=lambda _: None)

    return build


@pytest.mark.parametrize("operation_name", OPERATIONS)
@pytest.mark.parametrize("kind", FAULTS)
def test_a_fault_at_any_call_leaves_nothing_half_written(
    operation_name, kind, make_service, dynamodb, store
):
    operation, calls = OPERATIONS[operation_name]
    expected_service = make_service()
    reference = f"ref-{uuid.uuid4().hex[:10]}"
    prepare(expected_service, reference)
    expected_result = operation(expected_service, reference)
    expected = outcome(expected_service, reference)

    for at in range(1, calls + 1):
        customer_id = f"fault-{uuid.uuid4().hex[:10]}"
        service = make_service()
        prepare(service, customer_id)
        fault = Fault(kind, at)
        fault.install(dynamodb)
        result = operation(service, customer_id)
        dynamodb.meta.events.unregister("before-call.dynamodb", fault._count)
        dynamodb.meta.events.unregister("before-send.dynamodb", fault._before_send)
        dynamodb.meta.events.unregister("after-call.dynamodb", fault._after_call)

        assert fault.fired, f"no fault fired at call {at}"
        assert [(e.type, e.points) for e in result.transactions] == [
            (e.type, e.points) for e in expected_result.transactions
        ]
        assert result.current_balance == expected_result.current_balance
        assert outcome(service, customer_id) == expected
        # A second call with the same key answers the same, and writes nothing more.
        again = operation(service, customer_id)
        assert again.replayed
        assert again.transactions == result.transactions
        assert outcome(service, customer_id) == expected
