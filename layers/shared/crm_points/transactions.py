"""Idempotency, optimistic concurrency and retries: how every write of the layer is made
safe to repeat and safe to race (docs/ledger.md, "Idempotency and concurrency").

- A write is one TransactWriteItems (`commit`): the request's idempotency record (a `Claim`,
  Put if absent, answering an earlier request's result when it exists), the `Guard`s it
  depends on (each with the error its failed condition means), and the items of the change
  (conditioned on the version they were read at: a failure there is a `WriteConflict`, read
  again and retry). Each item travels with what its failure means, so the order of the
  items never decides which error is raised.
- A request made again with the same key is answered from its record (`replay_answer`), or
  refused when the key was used for another request.
- A failure after which the same request may succeed (`is_transient`) is retried, with one
  backoff policy (`Backoff`), around the whole read-decide-commit round (`Retry`).

The retry budget, against a function's 10-second timeout: each DynamoDB call is retried by
botocore itself (standard mode, 4 attempts, runtime.py); over that, a write round is tried
`CONFLICTS.attempts` times, sleeping at most `CONFLICTS.worst_case_s()` (≈ 1.1 s) in all, and
a batch left unprocessed `THROTTLED.attempts` times, sleeping at most `THROTTLED.worst_case_s()`
(≈ 4.5 s). A round is a read and a write of a few milliseconds each, so a write that keeps
conflicting gives up (409, retryable) within about 1.5 s.
"""

import hashlib
import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from pydantic import BaseModel

from crm_points import metrics
from crm_points.dynamo import from_item, to_item
from crm_points.errors import Conflict, IdempotencyKeyReused

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

_R = TypeVar("_R", bound=BaseModel)
_T = TypeVar("_T")

# The sort key of every idempotency record.
CLAIM_SK = "REQUEST"
# What one transaction may hold (DynamoDB's limit).
TRANSACTION_ITEMS = 100


@dataclass(frozen=True)
class Backoff:
    """Full-jitter exponential backoff: before attempt n (from 0), sleep a random time up to
    min(cap_s, base_s * 2**n), nothing before the first. Racing writers so spread out."""

    attempts: int
    base_s: float
    cap_s: float

    def delay(self, attempt: int) -> float:
        """The longest sleep before attempt `attempt`."""
        return 0.0 if attempt == 0 else min(self.cap_s, self.base_s * 2**attempt)

    def pause(self, attempt: int, sleep: Callable[[float], None] = time.sleep) -> None:
        """Sleep before attempt `attempt` (none before the first)."""
        if attempt:
            sleep(random.uniform(0, self.delay(attempt)))

    def worst_case_s(self) -> float:
        """The most all the sleeps of every attempt can add up to."""
        return sum(self.delay(attempt) for attempt in range(self.attempts))


# Writers racing on one item (an account, an alert, the analytics aggregates, a bulk job).
CONFLICTS = Backoff(attempts=10, base_s=0.005, cap_s=0.2)
# DynamoDB or SQS leaving part of a batch unprocessed (throttling): slower, as it is load.
THROTTLED = Backoff(attempts=8, base_s=0.05, cap_s=1.0)

# Errors after which the outcome of a write is unknown, or which say "try again": the whole
# operation is retried, which is safe because the idempotency record makes a committed
# write answer as a replay.
_TRANSIENT_CODES = {
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}


def is_transient(error: Exception) -> bool:
    """A failure after which the same request may well succeed."""
    if isinstance(error, HTTPClientError | BotoConnectionError):
        return True
    return (
        isinstance(error, ClientError)
        and error.response.get("Error", {}).get("Code") in _TRANSIENT_CODES
    )


def fingerprint(operation: str, payload: dict[str, Any]) -> str:
    """A stable hash of a request's meaning: same operation and payload, same hash."""
    canonical = json.dumps({"operation": operation, **payload}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    """Where a request's idempotency record lives, and the fingerprint of its payload."""

    pk: str
    sk: str
    request_hash: str
    key: str


@dataclass(frozen=True)
class Guard:
    """An item a write depends on, checked in the write's own transaction.

    By default the item must be absent. With `put`, the item is written under the
    condition; with `put_result`, the write's result record is written there (as a second
    idempotency record, e.g. a booking's REDEEM). `error` is raised when it does not hold.
    """

    pk: str
    sk: str
    error: Exception
    condition: str = "attribute_not_exists(PK)"
    values: Mapping[str, Any] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)
    put: Mapping[str, Any] | None = None
    put_result: bool = False

    @classmethod
    def present(cls, pk: str, sk: str, error: Exception) -> "Guard":
        return cls(pk, sk, error, condition="attribute_exists(PK)")


@dataclass(frozen=True)
class StoredClaim:
    """An earlier request's idempotency record: its payload hash and its JSON answer."""

    request_hash: str
    result_json: str


class ClaimTaken(Exception):
    """The idempotency record exists: the request was made before."""

    def __init__(self, stored: StoredClaim) -> None:
        super().__init__("idempotency record exists")
        self.stored = stored


class WriteConflict(Exception):
    """Another writer changed what was read first: read again and retry."""


@dataclass(frozen=True)
class Idempotent(Generic[_R]):
    """An idempotent write's answer; `replayed` when it is an earlier request's answer given
    again for the same Idempotency-Key (the API says so in `Idempotent-Replayed`)."""

    answer: _R
    replayed: bool = False


def replayed(claim: Claim, stored: StoredClaim, kind: type[_R]) -> Idempotent[_R]:
    """`replay_answer`, marked as a replay."""
    return Idempotent(replay_answer(claim, stored, kind), replayed=True)


def replay_answer(claim: Claim, stored: StoredClaim, kind: type[_R]) -> _R:
    """What an earlier request with this key was answered; another request's key: 422."""
    if stored.request_hash != claim.request_hash:
        raise IdempotencyKeyReused(claim.key)
    # A replay is a client (or the booking system, or a queue) sending again what was done:
    # a few are retries, many would say a caller is looping.
    metrics.count(metrics.IDEMPOTENT_REPLAYS)
    return kind.model_validate_json(stored.result_json)


def retries_exhausted(message: str, details: dict[str, Any] | None = None) -> Conflict:
    """A write that conflicted (or found DynamoDB not answering) on every attempt: a 409 the
    caller may retry, and a count (WriteConflictsExhausted), since many of them mean an
    item too hot for its writers or a table throttled."""
    metrics.count(metrics.WRITE_CONFLICTS_EXHAUSTED)
    return Conflict(message, details, retryable=True)


@dataclass
class Retry:
    """How one operation is retried: `run` makes an attempt (a whole read-decide-commit
    round) until one returns, `attempts` times at most, pausing before each but the first
    (`backoff`).

    An attempt is made again after one of `again` (what it read has moved: nothing was
    written) or a failure `transient` accepts (`is_transient` unless told; None when the
    attempt retries those itself). After a transient failure a write may have committed with
    its answer lost: the next attempt finds its idempotency record (ClaimTaken), and
    `outcome_unknown` tells the caller so. Anything else an attempt raises, ClaimTaken
    included, goes to the caller at once.
    """

    attempts: int = CONFLICTS.attempts
    sleep: Callable[[float], None] = time.sleep
    again: tuple[type[Exception], ...] = ()
    transient: Callable[[Exception], bool] | None = is_transient
    backoff: Backoff = CONFLICTS
    # What the attempts met so far: the failure that last sent the operation round again,
    # and whether any failure was transient.
    last_failure: Exception | None = field(default=None, init=False)
    outcome_unknown: bool = field(default=False, init=False)

    def run(
        self, attempt: Callable[[], _T], exhausted: Callable[[], Exception] | None = None
    ) -> _T:
        """What the first attempt to succeed returns. When every attempt failed, raises what
        `exhausted` makes (e.g. `retries_exhausted`), or without it the last failure itself."""
        for number in range(self.attempts):
            self.backoff.pause(number, self.sleep)
            try:
                return attempt()
            except self.again as moved:
                self.last_failure = moved
            except Exception as error:
                if self.transient is None or not self.transient(error):
                    raise
                self.last_failure = error
                self.outcome_unknown = True
        if exhausted is not None:
            raise exhausted()
        if self.last_failure is None:
            raise ValueError("Retry.run needs at least one attempt")
        raise self.last_failure


# What a transaction item's failed condition means: the request's own record (a replay),
# an error to raise, or (None) an item read at a version that moved (WriteConflict).
Meaning = Exception | None
_REPLAYED = Exception("the request's own idempotency record")


def transact(client: "DynamoDBClient", items: Sequence[tuple[Any, Meaning]]) -> None:
    """One TransactWriteItems of `items`, each paired with what its failed condition means.
    Raises ClaimTaken for a record found (with the earlier answer), the first failed
    guard's error, or WriteConflict (a version moved, or a concurrent transaction)."""
    try:
        client.transact_write_items(TransactItems=[item for item, _ in items])
    except client.exceptions.TransactionCanceledException as cancelled:
        reasons = cancelled.response.get("CancellationReasons", [])
        codes = [reason.get("Code", "None") for reason in reasons]
        for (_, meaning), reason in zip(items, reasons, strict=False):
            if reason.get("Code") != "ConditionalCheckFailed" or meaning is None:
                continue
            if meaning is not _REPLAYED:
                raise meaning from None
            if "Item" in reason:
                values = from_item(dict(reason["Item"]))
                raise ClaimTaken(StoredClaim(values["requestHash"], values["result"])) from None
        raise WriteConflict(",".join(codes)) from None


def write_once(client: "DynamoDBClient", items: Sequence["TransactWriteItemTypeDef"]) -> bool:
    """One TransactWriteItems whose first item records the work as done (Put if absent):
    False, and nothing written, when that record was there already (the work was done).
    WriteConflict when another transaction held one of the items: nothing was written."""
    try:
        client.transact_write_items(TransactItems=list(items))
    except client.exceptions.TransactionCanceledException as cancelled:
        reasons = cancelled.response.get("CancellationReasons", [])
        codes = [reason.get("Code", "None") for reason in reasons]
        if codes and codes[0] == "ConditionalCheckFailed":
            return False
        if "TransactionConflict" in codes:
            raise WriteConflict(",".join(codes)) from None
        raise
    return True


def commit(
    client: "DynamoDBClient",
    table: str,
    claim: Claim,
    result: BaseModel,
    guards: Sequence[Guard] = (),
    changes: Sequence["TransactWriteItemTypeDef"] = (),
    customer_id: str | None = None,
) -> None:
    """Write a request's idempotency record (with its `result`), its guards and its
    `changes` (items whose failed condition is a WriteConflict) in one transaction."""
    record = {
        "entity": "IDEMPOTENCY",
        "requestHash": claim.request_hash,
        "result": result.model_dump_json(by_alias=True),
        **({"customerId": customer_id} if customer_id else {}),
    }
    claim_put: TransactWriteItemTypeDef = {
        "Put": {
            "TableName": table,
            "Item": to_item({"PK": claim.pk, "SK": claim.sk, **record}),
            "ConditionExpression": "attribute_not_exists(PK)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }
    items: list[tuple[Any, Meaning]] = [(claim_put, _REPLAYED)]
    items.extend((_guard_item(table, guard, record), guard.error) for guard in guards)
    items.extend((change, None) for change in changes)
    if len(items) > TRANSACTION_ITEMS:
        raise ValueError(f"a transaction of {len(items)} items is over {TRANSACTION_ITEMS}")
    transact(client, items)


def as_change(table: str, guard: Guard) -> Any:
    """A guard's item as a plain change of a transaction (`commit`'s `changes`, `transact`):
    its failed condition means the item moved since it was read (WriteConflict), whatever
    the guard's own error."""
    return _guard_item(table, guard, {})


def _guard_item(table: str, guard: Guard, record: dict[str, Any]) -> Any:
    condition: dict[str, Any] = {"ConditionExpression": guard.condition}
    if guard.values:
        condition["ExpressionAttributeValues"] = to_item(dict(guard.values))
    if guard.names:
        condition["ExpressionAttributeNames"] = dict(guard.names)
    if guard.put is None and not guard.put_result:
        key = to_item({"PK": guard.pk, "SK": guard.sk})
        return {"ConditionCheck": {"TableName": table, "Key": key, **condition}}
    attributes = dict(guard.put) if guard.put is not None else record
    item = to_item({**attributes, "PK": guard.pk, "SK": guard.sk})
    return {"Put": {"TableName": table, "Item": item, **condition}}


def read_claim(client: "DynamoDBClient", table: str, claim: Claim) -> StoredClaim | None:
    """The idempotency record of an earlier request, if any (used on the error path)."""
    response = client.get_item(
        TableName=table, Key=to_item({"PK": claim.pk, "SK": claim.sk}), ConsistentRead=True
    )
    item = response.get("Item")
    if not item:
        return None
    values = from_item(item)
    return StoredClaim(values["requestHash"], values["result"])
