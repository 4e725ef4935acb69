"""The one place of idempotency, optimistic concurrency and retries: what a failed condition
means goes with its item, and the backoff's budget."""

from typing import Any

import pytest
from botocore.exceptions import ClientError

from crm_points.dynamo import to_item
from crm_points.records import PostingResult
from crm_points.transactions import (
    CONFLICTS,
    THROTTLED,
    Backoff,
    Claim,
    ClaimTaken,
    Guard,
    Retry,
    StoredClaim,
    WriteConflict,
    commit,
    transact,
)


class Cancelled(Exception):
    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        super().__init__("cancelled")
        self.response = {"CancellationReasons": reasons}


class Refusing:
    """A DynamoDB client whose transaction is cancelled with these reasons."""

    class exceptions:
        TransactionCanceledException = Cancelled

    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        self.reasons = reasons
        self.sent: list[Any] = []

    def transact_write_items(self, TransactItems: list[Any]) -> None:
        self.sent = TransactItems
        raise Cancelled(self.reasons)


class Taken(Exception):
    pass


FAILED = {"Code": "ConditionalCheckFailed"}
NONE = {"Code": "None"}


def test_a_failed_condition_raises_what_its_own_item_means_wherever_it_stands():
    for order in ([("change", None), ("guard", Taken())], [("guard", Taken()), ("change", None)]):
        reasons = [FAILED if meaning is not None else NONE for _, meaning in order]
        with pytest.raises(Taken):
            transact(Refusing(reasons), order)  # type: ignore[arg-type]
    with pytest.raises(WriteConflict):
        transact(Refusing([NONE, FAILED]), [("guard", Taken()), ("change", None)])  # type: ignore[arg-type]
    with pytest.raises(WriteConflict):  # a concurrent transaction: nothing failed a condition
        transact(Refusing([{"Code": "TransactionConflict"}]), [("change", None)])  # type: ignore[arg-type]


def test_a_request_made_before_comes_back_with_its_first_answer():
    claim = Claim("IDEMPOTENCY#alice#k1", "REQUEST", "hash-1", "k1")
    answer = PostingResult(customer_id="c1", transactions=[], current_balance=0)
    stored = to_item({"requestHash": "hash-1", "result": answer.model_dump_json(by_alias=True)})
    guard = Guard("BOOKING#b1", "EARN", Taken())
    client = Refusing([{**FAILED, "Item": stored}, NONE, NONE])
    with pytest.raises(ClaimTaken) as taken:
        commit(client, "t", claim, answer, (guard,), [{"Put": {"TableName": "t", "Item": {}}}])  # type: ignore[arg-type]
    assert (taken.value.stored.request_hash, taken.value.stored.result_json) == (
        "hash-1",
        answer.model_dump_json(by_alias=True),
    )
    assert [next(iter(item)) for item in client.sent] == ["Put", "ConditionCheck", "Put"]


def test_the_backoff_sleeps_nothing_first_then_up_to_its_cap():
    slept: list[float] = []
    policy = Backoff(attempts=6, base_s=0.01, cap_s=0.1)
    for attempt in range(policy.attempts):
        policy.pause(attempt, slept.append)
    assert len(slept) == 5
    assert all(0 <= sleep <= policy.delay(n + 1) for n, sleep in enumerate(slept))
    assert [policy.delay(n) for n in range(6)] == [0.0, 0.02, 0.04, 0.08, 0.1, 0.1]


def test_the_retry_budget_fits_a_functions_timeout():
    """What docs/ledger.md and transactions.py promise: a write that keeps conflicting gives
    up after about a second of sleep, a batch left unprocessed after under
    five; both well inside the API functions' 10 seconds."""
    assert CONFLICTS.worst_case_s() == pytest.approx(1.11)
    assert THROTTLED.worst_case_s() == pytest.approx(4.5)
    assert CONFLICTS.worst_case_s() + THROTTLED.worst_case_s() < 10


class Moved(Exception):
    pass


def throttled() -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException"}}, "TransactWriteItems")


def failing(*failures: Exception) -> Any:
    """An attempt that raises each of `failures` in turn, then answers "done"."""
    left = list(failures)

    def attempt() -> str:
        if left:
            raise left.pop(0)
        return "done"

    return attempt


def test_a_retry_goes_round_again_after_a_move_or_a_transient_failure_pausing_between():
    slept: list[float] = []
    retry = Retry(attempts=3, sleep=slept.append, again=(Moved,))
    assert retry.run(failing(Moved(), throttled())) == "done"
    assert len(slept) == 2
    assert retry.outcome_unknown  # the throttled write may have committed
    assert isinstance(retry.last_failure, ClientError)


def test_a_retry_lets_anything_else_through_at_once():
    retry = Retry(attempts=5, sleep=lambda _: None, again=(Moved,))
    with pytest.raises(ClaimTaken):
        retry.run(failing(Moved(), ClaimTaken(StoredClaim("h", "{}"))))
    no_transient = Retry(attempts=5, sleep=lambda _: None, again=(Moved,), transient=None)
    with pytest.raises(ClientError):
        no_transient.run(failing(throttled()))
    assert not Retry(attempts=2, sleep=lambda _: None, again=(Moved,)).outcome_unknown


def test_a_retry_that_runs_out_raises_what_it_is_told_or_the_last_failure():
    told = Retry(attempts=2, sleep=lambda _: None, again=(Moved,))
    with pytest.raises(Taken):
        told.run(failing(Moved(), Moved(), Moved()), Taken)
    assert isinstance(told.last_failure, Moved)
    last = throttled()
    with pytest.raises(ClientError) as raised:
        Retry(attempts=2, sleep=lambda _: None).run(failing(throttled(), last, throttled()))
    assert raised.value is last
