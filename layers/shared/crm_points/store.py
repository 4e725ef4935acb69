"""Data access for the single table: every key, expression and transaction lives here.

The item types and access patterns are documented in docs/data-model.md; keep the two in
step. Every read endpoint is one request; every posting is one TransactWriteItems.
"""

import base64
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crm_points.errors import ValidationFailed
from crm_points.ledger import Posting
from crm_points.models import Account, LedgerEntry, PostingResult, iso_utc

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

ACCOUNT_SK = "STATE"
PROFILE_SK = "PROFILE"
ENTRY_PREFIX = "LEDGER#"
CLAIM_SK = "REQUEST"


def customer_pk(customer_id: str) -> str:
    return f"CUST#{customer_id}"


def entry_sk(sequence: int) -> str:
    return f"{ENTRY_PREFIX}{sequence:010d}"


def booking_pk(booking_id: str) -> str:
    return f"BOOKING#{booking_id}"


def idempotency_pk(key: str) -> str:
    return f"IDEMPOTENCY#{key}"


def expiry_shard(day: str) -> str:
    """Partition of the expiry index for one UTC day (`YYYY-MM-DD`)."""
    return f"EXPIRY#{day}"


def to_attribute(value: Any) -> dict[str, Any]:
    """A JSON-shaped value in DynamoDB's typed form (the types this table stores)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute(item) for item in value]}
    if isinstance(value, dict):
        return {"M": {key: to_attribute(item) for key, item in value.items()}}
    raise TypeError(f"cannot store a {type(value).__name__}")


def from_attribute(attribute: dict[str, Any]) -> Any:
    """DynamoDB's typed form back to a JSON-shaped value (numbers as int where whole)."""
    ((kind, value),) = attribute.items()
    if kind == "S" or kind == "BOOL":
        return value
    if kind == "N":
        number = float(value)
        return (
            int(value)
            if number.is_integer() and "." not in value and "e" not in value.lower()
            else number
        )
    if kind == "NULL":
        return None
    if kind == "L":
        return [from_attribute(item) for item in value]
    if kind == "M":
        return {key: from_attribute(item) for key, item in value.items()}
    raise TypeError(f"unexpected DynamoDB type {kind}")


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """Plain JSON-shaped values to DynamoDB's typed form."""
    return {name: to_attribute(value) for name, value in values.items()}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """An item in DynamoDB's typed form to plain values."""
    return {name: from_attribute(value) for name, value in item.items()}


def account_item(account: Account) -> dict[str, Any]:
    """An account as stored; while it has active lots it sits in the expiry index under
    the UTC day of its soonest-expiring lot (a sparse, date-sharded index)."""
    values: dict[str, Any] = {
        "PK": customer_pk(account.customer_id),
        "SK": ACCOUNT_SK,
        "entity": "ACCOUNT",
        **account.model_dump(mode="json", by_alias=True),
    }
    if account.lots:
        soonest = iso_utc(min(lot.expires_at for lot in account.lots))
        values["expiryShard"] = expiry_shard(soonest[:10])
        values["expirySort"] = f"{soonest}#{account.customer_id}"
    return to_item(values)


def entry_item(entry: LedgerEntry) -> dict[str, Any]:
    """A ledger entry as stored, with the keys of the cross-customer indexes."""
    created = iso_utc(entry.created_at)
    month = created[:7]
    values = {
        "PK": customer_pk(entry.customer_id),
        "SK": entry_sk(entry.sequence),
        "entity": "ENTRY",
        "txMonth": month,
        "txTypeMonth": f"{entry.type.value}#{month}",
        "txTime": f"{created}#{entry.transaction_id}",
        **entry.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    return to_item(values)


def _entry_from_item(item: dict[str, Any]) -> LedgerEntry:
    return LedgerEntry.model_validate(_public_fields(from_item(item), LedgerEntry))


def _account_from_item(item: dict[str, Any]) -> Account:
    return Account.model_validate(_public_fields(from_item(item), Account))


def _public_fields(
    values: dict[str, Any], model: type[Account] | type[LedgerEntry]
) -> dict[str, Any]:
    """Drop the storage-only attributes (keys, index keys) before validating a model."""
    names = {field.alias or name for name, field in model.model_fields.items()}
    return {k: v for k, v in values.items() if k in names}


def _account_and_entries(
    items: list[dict[str, Any]],
) -> tuple[Account | None, list[LedgerEntry]]:
    """Split a customer partition's items into its account and its entries (in order)."""
    account = None
    entries = []
    for item in items:
        sort_key = item["SK"]["S"]
        if sort_key == ACCOUNT_SK:
            account = _account_from_item(item)
        elif sort_key.startswith(ENTRY_PREFIX):
            entries.append(_entry_from_item(item))
    return account, entries


@dataclass(frozen=True)
class Claim:
    """Where a request's idempotency record lives, and the fingerprint of its payload."""

    pk: str
    sk: str
    request_hash: str
    key: str


@dataclass(frozen=True)
class Guard:
    """An item a posting depends on: it must exist, or must not (and is then written with
    the posting's result when `write_result`). `error` is raised when it does not hold."""

    pk: str
    sk: str
    must_exist: bool
    error: Exception
    write_result: bool = False


@dataclass(frozen=True)
class StoredClaim:
    request_hash: str
    result: PostingResult


class ClaimTaken(Exception):
    """The idempotency record exists: the request was made before."""

    def __init__(self, stored: StoredClaim) -> None:
        super().__init__("idempotency record exists")
        self.stored = stored


class WriteConflict(Exception):
    """Another writer changed the account first: read again and retry."""


def _stored_claim(item: dict[str, Any]) -> StoredClaim:
    values = from_item(item)
    return StoredClaim(
        request_hash=values["requestHash"],
        result=PostingResult.model_validate_json(values["result"]),
    )


class LedgerStore:
    """The table seen by the ledger: reads of accounts and entries, and atomic postings."""

    def __init__(self, client: "DynamoDBClient", table_name: str) -> None:
        self.client = client
        self.table = table_name

    def load_account(self, customer_id: str) -> Account | None:
        """The account as of now (strongly consistent), or None."""
        response = self.client.get_item(
            TableName=self.table,
            Key=to_item({"PK": customer_pk(customer_id), "SK": ACCOUNT_SK}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _account_from_item(item) if item else None

    def commit(
        self,
        posting: Posting | None,
        claim: Claim,
        result: PostingResult,
        guards: tuple[Guard, ...] = (),
    ) -> None:
        """Write a posting, its idempotency record and its guards in one transaction.

        Raises ClaimTaken (the request was made before: the stored result comes back in the
        cancellation reasons, with no second read), the failing guard's error, or
        WriteConflict (the account changed since it was read).
        """
        result_json = result.model_dump_json(by_alias=True)
        record = {
            "entity": "IDEMPOTENCY",
            "requestHash": claim.request_hash,
            "result": result_json,
            "customerId": result.customer_id,
        }
        items: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": to_item({"PK": claim.pk, "SK": claim.sk, **record}),
                    "ConditionExpression": "attribute_not_exists(PK)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        ]
        for guard in guards:
            condition = "attribute_exists(PK)" if guard.must_exist else "attribute_not_exists(PK)"
            if guard.write_result:
                items.append(
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": to_item({"PK": guard.pk, "SK": guard.sk, **record}),
                            "ConditionExpression": condition,
                        }
                    }
                )
            else:
                items.append(
                    {
                        "ConditionCheck": {
                            "TableName": self.table,
                            "Key": to_item({"PK": guard.pk, "SK": guard.sk}),
                            "ConditionExpression": condition,
                        }
                    }
                )
        if posting is not None:
            items.append(self._account_put(posting))
            items.extend(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": entry_item(entry),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                }
                for entry in posting.entries
            )
        try:
            self.client.transact_write_items(TransactItems=items)
        except self.client.exceptions.TransactionCanceledException as cancelled:
            reasons = cancelled.response.get("CancellationReasons", [])
            self._raise_for(reasons, guards)

    def _account_put(self, posting: Posting) -> "TransactWriteItemTypeDef":
        put: dict[str, Any] = {"TableName": self.table, "Item": account_item(posting.account)}
        if posting.previous_version is None:
            put["ConditionExpression"] = "attribute_not_exists(PK)"
        else:
            put["ConditionExpression"] = "version = :read_version"
            put["ExpressionAttributeValues"] = to_item({":read_version": posting.previous_version})
        return {"Put": put}  # type: ignore[typeddict-item]

    @staticmethod
    def _raise_for(reasons: list[Any], guards: tuple[Guard, ...]) -> None:
        codes = [reason.get("Code", "None") for reason in reasons]
        if codes and codes[0] == "ConditionalCheckFailed" and "Item" in reasons[0]:
            raise ClaimTaken(_stored_claim(reasons[0]["Item"]))
        for guard, code in zip(guards, codes[1:], strict=False):
            if code == "ConditionalCheckFailed":
                raise guard.error
        # The account's version moved, or DynamoDB saw a concurrent transaction.
        raise WriteConflict(",".join(codes))

    def read_claim(self, claim: Claim) -> StoredClaim | None:
        """The idempotency record of an earlier request, if any (used on the error path)."""
        response = self.client.get_item(
            TableName=self.table,
            Key=to_item({"PK": claim.pk, "SK": claim.sk}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _stored_claim(item) if item else None

    def booking_records(self, booking_id: str) -> dict[str, PostingResult]:
        """What the ledger recorded for a booking, by kind (EARN, REDEEM, REVERSAL)."""
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues=to_item({":pk": booking_pk(booking_id)}),
            ConsistentRead=True,
        )
        return {item["SK"]["S"]: _stored_claim(item).result for item in response.get("Items", [])}

    def locate_transaction(self, transaction_id: str) -> tuple[str, str] | None:
        """(customerId, type) of a ledger entry, by its id (TransactionIdIndex)."""
        response = self.client.query(
            TableName=self.table,
            IndexName="TransactionIdIndex",
            KeyConditionExpression="transactionId = :id",
            ExpressionAttributeValues=to_item({":id": transaction_id}),
            Limit=1,
        )
        items = [from_item(item) for item in response.get("Items", [])]
        return (items[0]["customerId"], items[0]["type"]) if items else None

    def locate_lot(self, point_batch_id: str) -> str | None:
        """The customerId owning a lot, by the lot's id (LotIndex over credit entries)."""
        response = self.client.query(
            TableName=self.table,
            IndexName="LotIndex",
            KeyConditionExpression="pointBatchId = :id",
            ExpressionAttributeValues=to_item({":id": point_batch_id}),
            Limit=1,
        )
        items = [from_item(item) for item in response.get("Items", [])]
        return str(items[0]["customerId"]) if items else None

    def read_summary(
        self, customer_id: str, recent: int
    ) -> tuple[Account | None, list[LedgerEntry]]:
        """The account and its `recent` newest entries in one Query.

        The account (SK `STATE`) sorts after every entry (`LEDGER#…`), and the profile
        (`PROFILE`) between them, so a descending query over that range returns the account
        first, then the profile, then the newest entries.
        """
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="PK = :pk AND SK BETWEEN :first AND :last",
            ExpressionAttributeValues=to_item(
                {":pk": customer_pk(customer_id), ":first": ENTRY_PREFIX, ":last": ACCOUNT_SK}
            ),
            ScanIndexForward=False,
            ConsistentRead=True,
            Limit=recent + 2,
        )
        account, entries = _account_and_entries(response.get("Items", []))
        return account, entries[:recent]

    def read_history(
        self, customer_id: str, limit: int, cursor: str | None
    ) -> tuple[Account | None, list[LedgerEntry], str | None]:
        """A page of a customer's entries, newest first, in one Query.

        The first page also reads the account item (it sorts just above the entries), so an
        unknown customer is told apart from one without entries. The cursor is opaque to
        callers: it names the sequence number the next page starts below.
        """
        pk = customer_pk(customer_id)
        if cursor is None:
            last, fetch = ACCOUNT_SK, limit + 3
        else:
            last, fetch = entry_sk(decode_cursor(cursor) - 1), limit + 1
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="PK = :pk AND SK BETWEEN :first AND :last",
            ExpressionAttributeValues=to_item({":pk": pk, ":first": ENTRY_PREFIX, ":last": last}),
            ScanIndexForward=False,
            ConsistentRead=True,
            Limit=fetch,
        )
        account, entries = _account_and_entries(response.get("Items", []))
        next_cursor = None
        if len(entries) > limit:
            entries = entries[:limit]
            next_cursor = encode_cursor(entries[-1].sequence)
        return account, entries, next_cursor


def encode_cursor(before_sequence: int) -> str:
    raw = json.dumps({"before": before_sequence}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The sequence number a cursor points below; a tampered cursor is a 422, not a 500."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        before = json.loads(base64.urlsafe_b64decode(padded.encode()))["before"]
    except (ValueError, KeyError, TypeError) as bad:
        raise ValidationFailed("cursor is not valid", {"field": "cursor"}) from bad
    if not isinstance(before, int) or not 1 < before <= 10**10:
        raise ValidationFailed("cursor is not valid", {"field": "cursor"})
    return before
