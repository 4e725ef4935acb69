"""Data access for the single table: every key, expression and transaction lives here.

The item types and access patterns are documented in docs/data-model.md; keep the two in
step. A read of one customer, or of one item, is one request; a read across every customer
queries the shards of a sharded index at once (`newest_across_shards`); every posting is one
TransactWriteItems.
"""

import heapq
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError
from pydantic import BaseModel

from crm_points import transactions
from crm_points.dynamo import decode_cursor, encode_cursor, from_item, queried, to_item
from crm_points.errors import Conflict, ValidationFailed
from crm_points.ledger import MAX_ENTRIES_PER_POSTING, Posting
from crm_points.records import (
    Account,
    AccountPage,
    Approval,
    ApprovalStatus,
    BookingRefunds,
    CustomerProfile,
    Erasure,
    ExpiredPoints,
    ExpiringReminder,
    LedgerEntry,
    Lot,
    LotQuarter,
    PostingResult,
    iso_utc,
)
from crm_points.statements import posted_on
from crm_points.transactions import (
    CLAIM_SK,
    THROTTLED,
    Claim,
    ClaimTaken,
    Guard,
    StoredClaim,
    WriteConflict,
    fingerprint,
)
from crm_points.validation import business_time

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

_M = TypeVar("_M", bound=BaseModel)
_T = TypeVar("_T")

ACCOUNT_SK = "STATE"
# An account's lots and recoverable expiries live in pages beside the account item, one per
# calendar quarter (a lot's by the day it expires, an expiry's by the day it happened), so a
# write rewrites only the pages it changes (docs/ledger.md, "Account pages"). The lot pages
# sort right after the account and before the expiry pages: a descending read from one lot
# page down to the entries returns the lots up to that quarter, the account, the profile and
# the newest entries.
PAGE_PREFIX = f"{ACCOUNT_SK}#"
LOT_PAGE = "ACTIVE#"
EXPIRY_PAGE = "EXPIRED#"
PAGES_END = f"{PAGE_PREFIX}~"
# An account of few lots and expiries keeps them in its own item (as most do: a frequent
# customer under rolling expiry holds one lot), so a write of it is one item; past these
# counts they move to pages.
INLINE_LOTS = 8
INLINE_EXPIRIES = 8
# Lot pages a posting can touch: the quarters a lot's expiry can fall in (the 3,660-day
# horizon spans at most 42) and one behind, for lots the expiry run has not reached yet.
MAX_LOT_PAGES = 44
# The most a posting can come to (within transactions.TRANSACTION_ITEMS): the idempotency
# record, three guards, the account, the day it posts on, its entries, every lot page and a
# page of expiries per entry. docs/capacity.md keeps the sum.
MAX_POSTING_ITEMS = 6 + 2 * MAX_ENTRIES_PER_POSTING + MAX_LOT_PAGES
# A summary reads the lot pages up to this far ahead, and shows their lots one by one: a
# year's validity and an extension of up to a year, and always the longest expiring window
# (365 days). Later lots it shows summed per quarter, from the account item.
SUMMARY_LOTS_AHEAD_DAYS = 731
# Lot pages such a read can meet: the quarters 731 days span, and one behind.
SUMMARY_LOT_PAGES = 10
# Reads of an account that met a write half-way (its pages at another version than the
# account item names) before giving up; each needs a write to land within one Query.
TORN_READ_ATTEMPTS = 3
# The index partitions that every ledger entry or booking writes to (the cross-customer time
# and type indexes, the expiry and reminder indexes) are spread over this many hash key
# values, chosen by a hash of the customer: no value takes more than about 1/32 of the
# writes, and a reader queries the shards in parallel. See docs/capacity.md.
INDEX_SHARDS = 32
PROFILE_SK = "PROFILE"
ENTRY_PREFIX = "LEDGER#"
# The first entry posted on each business day (`DAY#{YYYY-MM-DD}`): where a statement's days
# start in the ledger. It sorts before the reminders and entries, out of every other read.
POSTED_DAY_PREFIX = "DAY#"
REMINDER_PREFIX = "EXPIRING#"
# An erasure of the customer's personal data (POPIA): sorts before the reminders, out of
# the summary's and the history's ranges.
ERASURE_PREFIX = "ERASURE#"


CUSTOMER_PREFIX = "CUST#"


def customer_pk(customer_id: str) -> str:
    return f"{CUSTOMER_PREFIX}{customer_id}"


def entry_sk(sequence: int) -> str:
    return f"{ENTRY_PREFIX}{sequence:010d}"


# A read of a lot's life (L3) asks first for this many entries, then twice as many
# each time, up to about what one response holds (1 MB at 0.6 KB an entry).
ENTRY_PAGE = 100
MAX_ENTRY_PAGE = 1_600


@dataclass(frozen=True, order=True)
class EntryPlace:
    """Where a ledger entry is: its customer, and its number in the customer's ledger."""

    customer_id: str
    sequence: int


def _entry_place(item: dict[str, Any]) -> EntryPlace | None:
    """The place of an index item that is a ledger entry; None for another item that names
    the same id (an approval, a bulk award's row result)."""
    sort_key = item["SK"]["S"]
    if not sort_key.startswith(ENTRY_PREFIX):
        return None
    return EntryPlace(item["customerId"]["S"], int(sort_key[len(ENTRY_PREFIX) :]))


def booking_pk(booking_id: str) -> str:
    return f"BOOKING#{booking_id}"


# A booking's refund totals, beside its records (docs/data-model.md, "Booking record").
REFUNDS_SK = "REFUNDS"


def refund_sk(refund_id: str) -> str:
    return f"REFUND#{refund_id}"


@dataclass(frozen=True)
class BookingRecords:
    """A booking's records: the answer of each of its ledger writes by sort key (`EARN`,
    `REDEEM`, `REVERSAL`, `REFUND#{refundId}`), and its refund totals if it has any."""

    results: dict[str, PostingResult]
    refunds: BookingRefunds | None = None

    def __contains__(self, kind: str) -> bool:
        return kind in self.results

    def get(self, kind: str) -> PostingResult | None:
        return self.results.get(kind)


def refunds_guard(
    booking_id: str,
    customer_id: str,
    before: BookingRefunds | None,
    error: Exception,
    after: BookingRefunds | None = None,
) -> Guard:
    """The booking's refund totals as read (`before`; None: no refund yet), checked in the
    write's transaction; with `after`, written there too. A refund or a cancellation of the
    booking committed meanwhile fails it (`error`)."""
    if before is None:
        condition: dict[str, Any] = {"condition": "attribute_not_exists(PK)"}
    else:
        condition = {"condition": "refunds = :refunds", "values": {":refunds": before.refunds}}
    put = None
    if after is not None:
        put = {
            "entity": "BOOKING_REFUNDS",
            "customerId": customer_id,
            **after.model_dump(mode="json", by_alias=True),
        }
    return Guard(booking_pk(booking_id), REFUNDS_SK, error, put=put, **condition)


def idempotency_pk(key: str) -> str:
    """The record of the product's own idempotent work (an expiry run, an alert's trigger)."""
    return f"IDEMPOTENCY#{key}"


def request_pk(caller: str, key: str) -> str:
    """The record of an API request: its Idempotency-Key is the caller's own, as payment APIs
    scope theirs, so that nobody can spend another's key first. A subject has no `#`, so
    the two never run into each other."""
    return idempotency_pk(f"{caller}#{key}")


def api_claim(caller: str, key: str, operation: str, payload: dict[str, Any]) -> Claim:
    """The idempotency record of an API request: under the caller's Idempotency-Key, with
    the fingerprint of what it asks (`operation` and `payload`)."""
    return Claim(request_pk(caller, key), CLAIM_SK, fingerprint(operation, payload), key)


def index_shard(customer_id: str) -> int:
    """The shard of a customer's entries and account in the sharded indexes: a stable hash."""
    return zlib.crc32(customer_id.encode()) % INDEX_SHARDS


def ledger_shard(shard: int) -> str:
    """Partition of the cross-customer time index."""
    return f"LEDGER#{shard:02d}"


def type_shard(kind: str, shard: int) -> str:
    """Partition of the cross-customer type index."""
    return f"{kind}#{shard:02d}"


def expiry_shard(shard: int) -> str:
    """Partition of the expiry index for one shard."""
    return f"EXPIRY#{shard:02d}"


# Every account, under its shard, sorted by customer id, with its balance and when it was
# made and last written: what finance's balances export lists (docs/finance.md).
ACCOUNT_INDEX = "AccountIndex"


def account_shard(shard: int) -> str:
    """Partition of the account index for one shard."""
    return f"ACCOUNT#{shard:02d}"


def account_index_keys(customer_id: str) -> dict[str, str]:
    """An account's keys in the account index."""
    return {
        "accountShard": account_shard(index_shard(customer_id)),
        "accountSort": customer_id,
    }


@dataclass(frozen=True)
class ListedAccount:
    """An account as the account index lists it."""

    customer_id: str
    current_balance: int
    entry_count: int  # the entries the balance counts
    created_at: datetime
    updated_at: datetime


# Every item the change stream acts on (entries, reminders, alerts) is in this index under
# its owner's shard, sorted by when it was written on the machine's clock, not by the
# business time it carries (a booking redriven days later keeps its event's time): a stream
# batch that failed for good is found again by the window its records arrived in
# (deploy.redrive), and the daily reconciliation finds the accounts written since its last
# run. Keys only: what is found is read again by key.
WRITTEN_INDEX = "WrittenIndex"


def wall_clock() -> datetime:
    """The machine's clock: when an item is written, as the stream sees it."""
    return datetime.now(UTC)


def written_shard(shard: int) -> str:
    """A partition of the written index."""
    return f"WRITTEN#{shard:02d}"


def written_keys(owner: str, written_at: datetime) -> dict[str, str]:
    """An item's keys in the written index: its owner's (customer's, or an alert's
    subject's) shard, and when it was written."""
    return {"writtenShard": written_shard(index_shard(owner)), "writtenAt": iso_utc(written_at)}


def tx_time(entry: LedgerEntry) -> str:
    """An entry's sort key in the cross-customer indexes: its time, then its id (unique)."""
    return f"{iso_utc(entry.created_at)}#{entry.transaction_id}"


def in_parallel(read: Callable[[int], _T], shards: int = INDEX_SHARDS) -> list[_T]:
    """`read(shard)` for every shard at once (boto3 clients are thread-safe); in order. More
    reads than INDEX_SHARDS (a debit's lots) run that many at a time."""
    with ThreadPoolExecutor(max_workers=max(1, min(shards, INDEX_SHARDS))) as pool:
        return list(pool.map(read, range(shards)))


def reminder_shard(shard: int) -> str:
    """Partition of the reminder index for one shard."""
    return f"REMIND#{shard:02d}"


def quarter(moment: datetime) -> str:
    """The calendar quarter of a moment in Africa/Johannesburg, as `2027-Q2`."""
    local = business_time(moment)
    return f"{local.year:04d}-Q{(local.month - 1) // 3 + 1}"


def _lot_pages(account: Account | None) -> dict[str, list[Lot]]:
    """An account's lots by the page they live in (their expiry's quarter), in its order."""
    pages: dict[str, list[Lot]] = {}
    for lot in account.lots if account else []:
        pages.setdefault(LOT_PAGE + quarter(lot.expires_at), []).append(lot)
    return pages


def _page_contents(
    account: Account | None, lots: dict[str, list[Lot]] | None = None
) -> dict[str, dict[str, Any]]:
    """An account's lots and recoverable expiries as pages: page name to stored attributes.

    Within a page, lots and expiries keep the account's order, so a page that nothing
    changed compares equal to the page as read.
    """
    if account is None:
        return {}
    pages: dict[str, dict[str, list[Any]]] = {
        name: {"lots": [_stored(lot) for lot in page]}
        for name, page in (lots if lots is not None else _lot_pages(account)).items()
    }
    for expired in account.unrecovered_expiries:
        page = pages.setdefault(
            EXPIRY_PAGE + quarter(expired.expired_at), {"unrecoveredExpiries": []}
        )
        page["unrecoveredExpiries"].append(_stored(expired))
    return dict(sorted(pages.items()))


def _stored(record: BaseModel) -> dict[str, Any]:
    return record.model_dump(mode="json", by_alias=True, exclude_none=True)


def _page_reference(name: str, version: int, lots: list[Lot]) -> AccountPage:
    """What the account item says of one of its pages (for a lot page, its sums)."""
    if not lots:
        return AccountPage(page=name, version=version)
    summed = LotQuarter(
        quarter=name.removeprefix(LOT_PAGE),
        points=sum(lot.remaining_points for lot in lots),
        lots=len(lots),
        first_expiry=min(lot.expires_at for lot in lots),
        last_expiry=max(lot.expires_at for lot in lots),
    )
    return AccountPage(page=name, version=version, lots=summed)


def account_item(account: Account, inline: bool) -> dict[str, Any]:
    """An account as stored: its figures, and its lots and expiries themselves (`inline`)
    or the names of its pages; with the keys of two sparse, hash-sharded indexes, each
    sorted by a moment so that a daily run reads what is due with a key condition:

    Expiry index: while it has lots, under its shard, sorted by when its soonest lot expires.
    Reminder index: while a lot awaits its pointsExpiring reminder, under its shard, sorted
    by when the soonest such lot expires.
    """
    values: dict[str, Any] = {
        "PK": customer_pk(account.customer_id),
        "SK": ACCOUNT_SK,
        "entity": "ACCOUNT",
        **account.model_dump(
            mode="json",
            by_alias=True,
            exclude_none=True,
            exclude=None if inline else {"lots", "unrecovered_expiries"},
        ),
    }
    values.update(account_index_keys(account.customer_id))
    shard = index_shard(account.customer_id)
    if account.lots:
        soonest = min(lot.expires_at for lot in account.lots)
        values["expiryShard"] = expiry_shard(shard)
        values["expirySort"] = f"{iso_utc(soonest)}#{account.customer_id}"
    unreminded = [lot.expires_at for lot in account.lots if lot.needs_reminder]
    if unreminded:
        values["reminderShard"] = reminder_shard(shard)
        values["reminderSort"] = f"{iso_utc(min(unreminded))}#{account.customer_id}"
    return to_item(values)


def account_writes(posting: Posting) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """What a posting writes of its account: the account item, the pages whose contents
    changed (each stamped with the new version), and the sort keys of pages left empty.

    An account of few lots and expiries holds them itself, and has no pages. Otherwise the
    account item names every page with the version it was last written at, so a read can
    tell a page of this version from one a concurrent write has just replaced.
    """
    account = posting.account.model_copy()
    written = {page.page: page.version for page in posting.before.pages} if posting.before else {}
    if len(account.lots) <= INLINE_LOTS and len(account.unrecovered_expiries) <= INLINE_EXPIRIES:
        account.pages = []
        return account_item(account, inline=True), [], sorted(PAGE_PREFIX + p for p in written)
    before = _page_contents(posting.before)
    pk = customer_pk(account.customer_id)
    lots = _lot_pages(account)
    references: list[AccountPage] = []
    puts: list[dict[str, Any]] = []
    for name, contents in _page_contents(account, lots).items():
        unchanged = name in written and before.get(name) == contents
        version = written[name] if unchanged else account.version
        references.append(_page_reference(name, version, lots.get(name, [])))
        if not unchanged:
            puts.append(
                to_item(
                    {
                        "PK": pk,
                        "SK": PAGE_PREFIX + name,
                        "entity": "ACCOUNT_PAGE",
                        "customerId": account.customer_id,
                        "version": version,
                        **contents,
                    }
                )
            )
    account.pages = references
    emptied = sorted(PAGE_PREFIX + name for name in written.keys() - {p.page for p in references})
    return account_item(account, inline=False), puts, emptied


def account_items(account: Account) -> list[dict[str, Any]]:
    """A whole account as the items that hold it (the account item, then its pages): for
    loading a table directly."""
    state, pages, _ = account_writes(Posting(account))
    return [state, *pages]


class TornRead(Exception):
    """A read met the account and its pages at different versions (a write landed between
    the items of one Query): read again."""


@dataclass(frozen=True)
class CustomerRecords:
    """Everything a customer's partition holds, each kind in its order (oldest first)."""

    profile: CustomerProfile | None
    account: Account | None
    entries: list[LedgerEntry]
    reminders: list[ExpiringReminder]
    erasures: list[Erasure]

    @property
    def known(self) -> bool:
        """The customer has a profile or an account (SPEC §2.1)."""
        return self.profile is not None or self.account is not None


def _assemble_account(
    state: dict[str, Any], pages: list[dict[str, Any]], covered: Callable[[str], bool]
) -> Account:
    """The account from its item and the pages read with it: those whose names `covered`
    accepts are expected, each at the version the account names.

    Raises TornRead if a page read is not that version, or an expected one was not read (a
    write landed between the items of one Query); RuntimeError for a page the account does
    not name that no write in flight explains (docs/capacity.md, "Changing the keys of a
    deployed table").
    """
    account = model_from_item(Account, state)
    written = {page.page: page.version for page in account.pages}
    expected = {name for name in written if covered(name)}
    seen = set()
    for item in pages:
        values = from_item(item)
        name = values["SK"][len(PAGE_PREFIX) :]
        if name not in written and values["version"] <= account.version:
            # Not a write in flight (that would be a later version): a page the account
            # lost track of, as code that keeps lots in the account item would leave.
            raise RuntimeError(f"page {name} of {account.customer_id} is not the account's")
        if name not in expected:
            continue
        if written[name] != values["version"]:
            raise TornRead(name)
        seen.add(name)
        account.lots.extend(Lot.model_validate(lot) for lot in values.get("lots", []))
        account.unrecovered_expiries.extend(
            ExpiredPoints.model_validate(expired)
            for expired in values.get("unrecoveredExpiries", [])
        )
    if seen != expected:
        raise TornRead(",".join(sorted(expected - seen)))
    return account


def posted_day_write(posting: Posting, table: str) -> "TransactWriteItemTypeDef | None":
    """The marker of the business day a posting's entries are posted on, when they are the
    first of that day (docs/data-model.md, "Posted days"); None otherwise. An Update that
    keeps a first sequence already there: a ledger marked by the upgrade step
    (`mark_posted_days`) may have posted earlier that day before its account knew its days."""
    day = posting.account.posted_through
    if not posting.entries or day is None:
        return None
    if posting.before is not None and posting.before.posted_through == day:
        return None
    return {
        "Update": {
            "TableName": table,
            "Key": to_item(
                {
                    "PK": customer_pk(posting.account.customer_id),
                    "SK": f"{POSTED_DAY_PREFIX}{day.isoformat()}",
                }
            ),
            "UpdateExpression": "SET entity = :entity, customerId = :customer, "
            "firstSequence = if_not_exists(firstSequence, :first)",
            "ExpressionAttributeValues": to_item(
                {
                    ":entity": "POSTED_DAY",
                    ":customer": posting.account.customer_id,
                    ":first": posting.entries[0].sequence,
                }
            ),
        }
    }


def entry_item(entry: LedgerEntry, written_at: datetime) -> dict[str, Any]:
    """A ledger entry as stored, with the keys of the cross-customer indexes."""
    shard = index_shard(entry.customer_id)
    values = {
        "PK": customer_pk(entry.customer_id),
        "SK": entry_sk(entry.sequence),
        "entity": "ENTRY",
        "txShard": ledger_shard(shard),
        "typeShard": type_shard(entry.type, shard),
        "txTime": tx_time(entry),
        **written_keys(entry.customer_id, written_at),
        **entry.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    return to_item(values)


def model_from_item(model: type[_M], item: dict[str, Any]) -> _M:
    """A stored item as its model, without the storage-only attributes (keys, index keys)."""
    names = {field.alias or name for name, field in model.model_fields.items()}
    return model.model_validate({k: v for k, v in from_item(item).items() if k in names})


def _figures_only(page: str) -> bool:
    return False


@dataclass
class _Partition:
    """A customer partition's items, by kind (the account's own item and pages as stored)."""

    state: dict[str, Any] | None = None
    pages: list[dict[str, Any]] = field(default_factory=list)
    profile: CustomerProfile | None = None
    entries: list[LedgerEntry] = field(default_factory=list)
    reminders: list[ExpiringReminder] = field(default_factory=list)
    erasures: list[Erasure] = field(default_factory=list)


def _partition(items: list[dict[str, Any]]) -> _Partition:
    """Sort a customer partition's items (as read, in key order) by kind."""
    found = _Partition()
    for item in items:
        sort_key = str(item["SK"]["S"])
        if sort_key == ACCOUNT_SK:
            found.state = item
        elif sort_key.startswith(PAGE_PREFIX):
            found.pages.append(item)
        elif sort_key == PROFILE_SK:
            found.profile = model_from_item(CustomerProfile, item)
        elif sort_key.startswith(ENTRY_PREFIX):
            found.entries.append(model_from_item(LedgerEntry, item))
        elif sort_key.startswith(REMINDER_PREFIX):
            found.reminders.append(model_from_item(ExpiringReminder, item))
        elif sort_key.startswith(ERASURE_PREFIX):
            found.erasures.append(model_from_item(Erasure, item))
    return found


def _account_and_entries(
    items: list[dict[str, Any]], covered: Callable[[str], bool] = _figures_only
) -> tuple[Account | None, list[LedgerEntry]]:
    """Split a customer partition's items into its account and its entries (in order).

    The account holds the lots and expiries of the pages `covered` accepts (by default
    none: its figures only). A customer known only from a profile event has an account with
    nothing in it yet (SPEC §2.1): it comes into being with the first ledger entry or
    profile event.
    """
    found = _partition(items)
    if found.state is not None:
        return _assemble_account(found.state, found.pages, covered), found.entries
    if found.profile is not None:
        account = Account(
            customer_id=found.profile.customer_id,
            created_at=found.profile.updated_at,
            updated_at=found.profile.updated_at,
        )
        return account, found.entries
    return None, found.entries


def reminder_item(reminder: ExpiringReminder, written_at: datetime) -> dict[str, Any]:
    """A customer's reminder of one run. Its sort key sorts before the ledger entries, out of
    the range the summary and history read."""
    return to_item(
        {
            "PK": customer_pk(reminder.customer_id),
            "SK": f"{REMINDER_PREFIX}{iso_utc(reminder.run_time)}",
            "entity": "REMINDER",
            **written_keys(reminder.customer_id, written_at),
            **reminder.model_dump(mode="json", by_alias=True),
        }
    )


@dataclass(frozen=True)
class StatementRead:
    """What a statement is made from: the account (None: unknown customer), the entries
    posted in the period in order, and the balance before them (throughout the period when
    there are none)."""

    account: Account | None
    entries: list[LedgerEntry]
    balance_before: int


class _AlreadyReminded(Exception):
    """This run had reminded this customer already."""


class LedgerStore:
    """The table seen by the ledger: reads of accounts and entries, and atomic postings."""

    def __init__(
        self,
        client: "DynamoDBClient",
        table_name: str,
        clock: Callable[[], datetime] = wall_clock,
    ) -> None:
        self.client = client
        self.table = table_name
        self.clock = clock  # when an item is written (written_keys), never a business time

    def load_account(self, customer_id: str) -> Account | None:
        """The account with all its lots and recoverable expiries, as of now (strongly
        consistent): one Query over the account item and its pages, or None."""
        for _ in range(TORN_READ_ATTEMPTS):
            items = self._query_all(
                KeyConditionExpression="PK = :pk AND SK BETWEEN :account AND :end",
                ExpressionAttributeValues=to_item(
                    {":pk": customer_pk(customer_id), ":account": ACCOUNT_SK, ":end": PAGES_END}
                ),
                ConsistentRead=True,
            )
            if not items or items[0]["SK"]["S"] != ACCOUNT_SK:
                return None
            try:
                return _assemble_account(items[0], items[1:], covered=lambda page: True)
            except TornRead:
                continue
        raise WriteConflict("the account kept changing while it was read")

    def listed_accounts(
        self, shard: int, after: str | None = None, limit: int = 500
    ) -> tuple[list[ListedAccount], str | None]:
        """A page of one shard's accounts in the account index, by customer id, after
        `after`; and the last customer id of the page when more may follow."""
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": ACCOUNT_INDEX,
            "KeyConditionExpression": "accountShard = :shard",
            "ExpressionAttributeValues": to_item({":shard": account_shard(shard)}),
            "Limit": limit,
        }
        if after is not None:
            arguments["ExclusiveStartKey"] = to_item(
                {
                    "accountShard": account_shard(shard),
                    "accountSort": after,
                    "PK": customer_pk(after),
                    "SK": ACCOUNT_SK,
                }
            )
        page = self.client.query(**arguments)
        listed = [
            ListedAccount(
                customer_id=values["customerId"],
                current_balance=int(values["currentBalance"]),
                entry_count=int(values["entryCount"]),
                created_at=datetime.fromisoformat(values["createdAt"]),
                updated_at=datetime.fromisoformat(values["updatedAt"]),
            )
            for values in map(from_item, page.get("Items", []))
        ]
        more = "LastEvaluatedKey" in page and bool(listed)
        return listed, listed[-1].customer_id if more else None

    def points_since(self, account: ListedAccount, moment: datetime, settled: datetime) -> int:
        """The points of the account's entries created after `moment`, of those its listed
        balance counts, read newest first until an entry created before `settled` (no entry
        written later is dated earlier, docs/finance.md, "Balances export")."""
        if account.entry_count == 0:
            return 0
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :first AND :last",
            "ExpressionAttributeValues": to_item(
                {
                    ":pk": customer_pk(account.customer_id),
                    ":first": entry_sk(1),
                    ":last": entry_sk(account.entry_count),
                }
            ),
            "ProjectionExpression": "createdAt, points",
            "ScanIndexForward": False,
            "Limit": 100,
        }
        later = iso_utc(moment)
        before = iso_utc(settled)
        total = 0
        for values in queried(self.client, arguments):
            if values["createdAt"] < before:
                break
            if values["createdAt"] > later:
                total += int(values["points"])
        return total

    def index_account(self, customer_id: str) -> bool:
        """Give an account written before the account index its keys there (an upgrade
        step, docs/operations.md); False when the account already has them or is gone."""
        keys = account_index_keys(customer_id)
        try:
            self.client.update_item(
                TableName=self.table,
                Key=to_item({"PK": customer_pk(customer_id), "SK": ACCOUNT_SK}),
                UpdateExpression="SET accountShard = :shard, accountSort = :sort",
                ConditionExpression="attribute_exists(PK) AND attribute_not_exists(accountShard)",
                ExpressionAttributeValues=to_item(
                    {":shard": keys["accountShard"], ":sort": keys["accountSort"]}
                ),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def mark_posted_days(self, customer_id: str) -> int:
        """Give a ledger written before posted days were kept the markers of its days (an
        upgrade step, docs/operations.md): each entry without a posted day is posted on its
        own day, or on the day of the entry before it if that is later, as a new one would
        be. The number of markers written or moved earlier; running it again writes none."""
        account, entries = self.ledger_of(customer_id)
        firsts: dict[date, int] = {}
        day: date | None = None
        # The first entry posted since the days were kept (marked when it was posted): no
        # older entry is posted after its day, so the days stay in the ledger's order.
        since = next((entry.posted_on for entry in entries if entry.posted_on), None)
        for entry in entries:
            if entry.posted_on is not None:
                break
            day = max(posted_on(entry), day) if day else posted_on(entry)
            if since is not None:
                day = min(day, since)
            firsts.setdefault(day, entry.sequence)
        written = 0
        for marked, sequence in firsts.items():
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key=to_item(
                        {
                            "PK": customer_pk(customer_id),
                            "SK": f"{POSTED_DAY_PREFIX}{marked.isoformat()}",
                        }
                    ),
                    UpdateExpression="SET entity = :entity, customerId = :customer, "
                    "firstSequence = :first",
                    ConditionExpression="attribute_not_exists(PK) OR firstSequence > :first",
                    ExpressionAttributeValues=to_item(
                        {":entity": "POSTED_DAY", ":customer": customer_id, ":first": sequence}
                    ),
                )
                written += 1
            except self.client.exceptions.ConditionalCheckFailedException:
                continue
        if account is not None and account.posted_through is None and day is not None:
            # The account's next posting is posted on that day or later. A posting made
            # since the deploy has set it already, on its own day: the condition keeps it.
            with suppress(self.client.exceptions.ConditionalCheckFailedException):
                self.client.update_item(
                    TableName=self.table,
                    Key=to_item({"PK": customer_pk(customer_id), "SK": ACCOUNT_SK}),
                    UpdateExpression="SET postedThrough = :day",
                    ConditionExpression="attribute_exists(PK) AND "
                    "attribute_not_exists(postedThrough)",
                    ExpressionAttributeValues=to_item({":day": day.isoformat()}),
                )
        return written

    def ledger_of(self, customer_id: str) -> tuple[Account | None, list[LedgerEntry]]:
        """An account and the entries it counts, oldest first: what the reconciliation
        recomputes. The account is read first; an entry a write adds meanwhile is past the
        account's `entryCount` and left for the next check (entries are never changed, so
        every one the account counts was committed with it)."""
        account = self.load_account(customer_id)
        if account is None:
            return None, []
        items = self._query_all(
            KeyConditionExpression="PK = :pk AND SK BETWEEN :first AND :last",
            ExpressionAttributeValues=to_item(
                {
                    ":pk": customer_pk(customer_id),
                    ":first": entry_sk(1),
                    ":last": entry_sk(max(account.entry_count, 1)),
                }
            ),
            ConsistentRead=True,
        )
        return account, [model_from_item(LedgerEntry, item) for item in items]

    def customer_records(self, customer_id: str) -> CustomerRecords:
        """Every item of the customer's partition (consistent, followed to its end): the
        profile, the account with all its lots, every entry, reminder and erasure. A read
        that met a write half-way is made again; one that keeps meeting writes is a 409."""
        for _ in range(TORN_READ_ATTEMPTS):
            items = self._query_all(
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues=to_item({":pk": customer_pk(customer_id)}),
                ConsistentRead=True,
            )
            found = _partition(items)
            try:
                account = (
                    None
                    if found.state is None
                    else _assemble_account(found.state, found.pages, covered=lambda page: True)
                )
            except TornRead:
                continue
            return CustomerRecords(
                found.profile, account, found.entries, found.reminders, found.erasures
            )
        raise Conflict("The account changed while it was being read; try again", retryable=True)

    def redaction(
        self, entry: LedgerEntry, reason: str, description: str
    ) -> "TransactWriteItemTypeDef":
        """An entry's `reason` and `description` rewritten (an erasure's, docs/security.md),
        if they are still as read; nothing else of the entry changes. For a transaction:
        the change stream passes over it (it acts on new items only)."""
        return {
            "Update": {
                "TableName": self.table,
                "Key": to_item(
                    {"PK": customer_pk(entry.customer_id), "SK": entry_sk(entry.sequence)}
                ),
                "UpdateExpression": "SET #reason = :reason, #description = :description",
                "ConditionExpression": "#reason = :readReason AND #description = :readDescription",
                "ExpressionAttributeNames": {"#reason": "reason", "#description": "description"},
                "ExpressionAttributeValues": to_item(
                    {
                        ":reason": reason,
                        ":description": description,
                        ":readReason": entry.reason,
                        ":readDescription": entry.description,
                    }
                ),
            }
        }

    def written_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Every entry, reminder and alert written from `start` to `end` (the machine's
        clock), as stored (DynamoDB's typed form, as a stream record's NewImage), in the
        order they were written: the written index's shards queried at once, then the
        items read by key."""
        keys = sorted(
            (
                found
                for shard in in_parallel(lambda n: list(self._written(n, start, end)))
                for found in shard
            ),
            key=lambda found: (found[0], found[1]["PK"]["S"], found[1]["SK"]["S"]),
        )
        items = batch_get(self.client, self.table, [key for _, key in keys])
        by_key = {(item["PK"]["S"], item["SK"]["S"]): item for item in items}
        return [
            by_key[(key["PK"]["S"], key["SK"]["S"])]
            for _, key in keys
            if (key["PK"]["S"], key["SK"]["S"]) in by_key
        ]

    def customers_written_between(self, start: datetime, end: datetime) -> list[str]:
        """The customers whose ledger (an entry, a reminder) was written from `start` to
        `end`, from the written index alone: the accounts a daily reconciliation checks.
        Only the customer ids are kept, however many items the window holds."""

        def customers(shard: int) -> set[str]:
            return {
                key["PK"]["S"].removeprefix(CUSTOMER_PREFIX)
                for _, key in self._written(shard, start, end)
                if key["PK"]["S"].startswith(CUSTOMER_PREFIX)
            }

        return sorted(set().union(*in_parallel(customers)))

    def _written(
        self, shard: int, start: datetime, end: datetime
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(writtenAt, key) of each item of one shard of the written index in the window,
        a page at a time."""
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": WRITTEN_INDEX,
            "KeyConditionExpression": "writtenShard = :shard AND writtenAt BETWEEN :from AND :to",
            "ExpressionAttributeValues": to_item(
                {":shard": written_shard(shard), ":from": iso_utc(start), ":to": iso_utc(end)}
            ),
        }
        while True:
            page = self.client.query(**arguments)
            for item in page.get("Items", []):
                yield item["writtenAt"]["S"], {"PK": item["PK"], "SK": item["SK"]}
            if "LastEvaluatedKey" not in page:
                return
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _query_all(
        self,
        enough: Callable[[list[dict[str, Any]]], bool] = lambda items: False,
        **query: Any,
    ) -> list[dict[str, Any]]:
        """The items a Query matches, following its pages (a response holds up to 1 MB or
        its Limit) until there are no more or the items read are `enough`."""
        items: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        while True:
            request: dict[str, Any] = {"TableName": self.table, **query}
            if start:
                request["ExclusiveStartKey"] = start
            page = self.client.query(**request)
            items.extend(page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if start is None or enough(items):
                return items

    def commit(
        self,
        posting: Posting | None,
        claim: Claim,
        result: BaseModel,
        guards: tuple[Guard, ...] = (),
        customer_id: str | None = None,
    ) -> None:
        """Write a posting (if any: its account, pages and entries), its idempotency record
        and its guards in one transaction (transactions.commit).

        Raises ClaimTaken (the request was made before: the stored result comes back in the
        cancellation reasons, with no second read), the failing guard's error, or
        WriteConflict (the account changed since it was read).
        """
        changes: list[TransactWriteItemTypeDef] = []
        if posting is not None:
            written_at = self.clock()
            changes.extend(self._account_items(posting))
            day = posted_day_write(posting, self.table)
            if day is not None:
                changes.append(day)
            changes.extend(
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": entry_item(entry, written_at),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                }
                for entry in posting.entries
            )
        transactions.commit(self.client, self.table, claim, result, guards, changes, customer_id)

    def _account_items(self, posting: Posting) -> list["TransactWriteItemTypeDef"]:
        """The account item, conditioned on the version it was read at (or on being new),
        then the pages the posting changed or emptied."""
        account, pages, emptied = account_writes(posting)
        put: dict[str, Any] = {"TableName": self.table, "Item": account}
        if posting.previous_version is None:
            put["ConditionExpression"] = "attribute_not_exists(PK)"
        else:
            put["ConditionExpression"] = "version = :read_version"
            put["ExpressionAttributeValues"] = to_item({":read_version": posting.previous_version})
        key = {"PK": account["PK"]}
        items: list[Any] = [{"Put": put}]
        items.extend({"Put": {"TableName": self.table, "Item": page}} for page in pages)
        items.extend(
            {"Delete": {"TableName": self.table, "Key": {**key, "SK": {"S": sort_key}}}}
            for sort_key in emptied
        )
        return items

    def save_reminder(self, posting: Posting, reminder: ExpiringReminder) -> bool:
        """Write the account with its lots marked as reminded (a posting without entries),
        and the reminder, in one transaction; the reminder's item is what the change stream
        turns into the alert, the notification and the `Points Expiring` event.

        False when this run had already reminded this customer; raises WriteConflict when
        the account changed since it was read.
        """
        account, *pages = self._account_items(posting)
        reminder_put = {
            "Put": {
                "TableName": self.table,
                "Item": reminder_item(reminder, self.clock()),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }
        reminded = _AlreadyReminded()
        try:
            transactions.transact(
                self.client,
                [(account, None), (reminder_put, reminded), *[(p, None) for p in pages]],
            )
        except _AlreadyReminded:
            return False
        return True

    def read_claim(self, claim: Claim) -> StoredClaim | None:
        """The idempotency record of an earlier request, if any (used on the error path)."""
        return transactions.read_claim(self.client, self.table, claim)

    def booking_records(self, booking_id: str) -> "BookingRecords":
        """What the ledger recorded for a booking: the answers of its EARN, REDEEM, REVERSAL
        and each refund (`REFUND#{refundId}`), and its refund totals (pattern 6)."""
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues=to_item({":pk": booking_pk(booking_id)}),
            ConsistentRead=True,
        )
        results: dict[str, PostingResult] = {}
        refunds = None
        for item in response.get("Items", []):
            if item["SK"]["S"] == REFUNDS_SK:
                refunds = model_from_item(BookingRefunds, item)
            else:
                results[item["SK"]["S"]] = PostingResult.model_validate_json(item["result"]["S"])
        return BookingRecords(results, refunds)

    def locate_transaction(self, transaction_id: str) -> tuple[str, str] | None:
        """(customerId, type) of a ledger entry, by its id (TransactionIdIndex)."""
        response = self.client.query(
            TableName=self.table,
            IndexName="TransactionIdIndex",
            KeyConditionExpression="transactionId = :id",
            ExpressionAttributeValues=to_item({":id": transaction_id}),
        )
        # Other items name an entry by this attribute too (the approval that made a DEDUCT, a
        # bulk award's row result): the entry is the one in a customer's ledger.
        items = [
            from_item(item)
            for item in response.get("Items", [])
            if item["SK"]["S"].startswith(ENTRY_PREFIX)
        ]
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

    # -- a lot's life (docs/data-model.md, "A lot's life": L1 to L3) -------------------

    def place_of_transaction(self, transaction_id: str) -> EntryPlace | None:
        """Where a ledger entry is, by its id (TransactionIdIndex, as pattern 7)."""
        response = self.client.query(
            TableName=self.table,
            IndexName="TransactionIdIndex",
            KeyConditionExpression="transactionId = :id",
            ExpressionAttributeValues=to_item({":id": transaction_id}),
        )
        places = [_entry_place(item) for item in response.get("Items", [])]
        return next((place for place in places if place is not None), None)

    def lot_entry_places(self, point_batch_id: str) -> list[EntryPlace]:
        """Where the entries that made, joined or extended a lot are, in ledger order
        (LotIndex, every page: L1). Empty for a lot no entry names."""
        items = self._query_all(
            IndexName="LotIndex",
            KeyConditionExpression="pointBatchId = :id",
            ExpressionAttributeValues=to_item({":id": point_batch_id}),
        )
        places = [_entry_place(item) for item in items]
        return sorted(place for place in places if place is not None)

    def lots_entry_places(self, point_batch_ids: Sequence[str]) -> dict[str, list[EntryPlace]]:
        """`lot_entry_places` of each lot, read at once."""
        found = in_parallel(
            lambda n: self.lot_entry_places(point_batch_ids[n]), len(point_batch_ids)
        )
        return dict(zip(point_batch_ids, found, strict=True))

    def entry_with_account(self, place: EntryPlace) -> tuple[LedgerEntry | None, Account | None]:
        """An entry (GetItem, consistent: L2) and its customer's account (pattern 1),
        read at once."""

        def read(n: int) -> LedgerEntry | Account | None:
            if n == 1:
                return self.load_account(place.customer_id)
            response = self.client.get_item(
                TableName=self.table,
                Key=to_item({"PK": customer_pk(place.customer_id), "SK": entry_sk(place.sequence)}),
                ConsistentRead=True,
            )
            item = response.get("Item")
            return model_from_item(LedgerEntry, item) if item else None

        entry, account = in_parallel(read, 2)
        assert entry is None or isinstance(entry, LedgerEntry)
        assert account is None or isinstance(account, Account)
        return entry, account

    def entries_from(
        self, customer_id: str, first: int, last: int, page: int = ENTRY_PAGE
    ) -> Iterator[list[LedgerEntry]]:
        """A customer's entries `first` to `last`, oldest first, consistent, a page at a time
        (L3): the first page of `page` entries, each next twice as many (a response
        holds at most 1 MB), so that a reader who stops early has read little."""
        if first > last:
            return
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :first AND :last",
            "ExpressionAttributeValues": to_item(
                {
                    ":pk": customer_pk(customer_id),
                    ":first": entry_sk(first),
                    ":last": entry_sk(last),
                }
            ),
            "ConsistentRead": True,
            "Limit": page,
        }
        while True:
            response = self.client.query(**arguments)
            yield [model_from_item(LedgerEntry, item) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return
            arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]
            arguments["Limit"] = min(2 * arguments["Limit"], MAX_ENTRY_PAGE)

    def read_summary(
        self, customer_id: str, recent: int, now: datetime
    ) -> tuple[Account | None, list[LedgerEntry], list[LotQuarter]]:
        """The account with its lots that expire within about two years, its `recent` newest
        entries, and its later lots as the account item sums them per quarter: one Query.

        Read descending from the lot page of the quarter two years ahead, the range holds the
        lot pages up to it, the account (`STATE`), the profile (`PROFILE`), then the newest
        entries (`LEDGER#…`). Only an account whose expiry run is more than a quarter
        behind has more lot pages there than the read allows for; its read goes on.
        """
        through = LOT_PAGE + quarter(now + timedelta(days=SUMMARY_LOTS_AHEAD_DAYS))

        def covered(page: str) -> bool:
            return page.startswith(LOT_PAGE) and page <= through

        query = {
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :first AND :last",
            "ExpressionAttributeValues": to_item(
                {
                    ":pk": customer_pk(customer_id),
                    ":first": ENTRY_PREFIX,
                    ":last": PAGE_PREFIX + through,
                }
            ),
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": SUMMARY_LOT_PAGES + 2 + recent,
        }

        def enough(items: list[dict[str, Any]]) -> bool:
            entries = [item for item in items if str(item["SK"]["S"]).startswith(ENTRY_PREFIX)]
            return len(entries) >= recent

        for _ in range(TORN_READ_ATTEMPTS):
            items = self._query_all(enough, **query)
            try:
                account, entries = _account_and_entries(items, covered)
            except TornRead:
                continue
            later = [
                page.lots
                for page in (account.pages if account else [])
                if page.lots is not None and not covered(page.page)
            ]
            return account, entries[:recent], later
        raise Conflict("The account changed while it was being read; try again", retryable=True)

    def read_statement(
        self, customer_id: str, first: date, last: date, max_entries: int
    ) -> "StatementRead":
        """The account and the entries posted from business day `first` to `last`, in order.

        Two round trips (docs/data-model.md, pattern 22): the account (pattern 1) and the
        posted-day markers from `first` on, at once; then the entries between the first
        marker of the period and the first after it, by sequence, a key condition. A period
        without entries reads, instead, the balance of the entry before the next posted day.
        More than `max_entries` in the period is a 422 before any entry is read.
        """
        pk = customer_pk(customer_id)

        def markers() -> list[tuple[date, int]]:
            response = self.client.query(
                TableName=self.table,
                KeyConditionExpression="PK = :pk AND SK BETWEEN :first AND :end",
                ExpressionAttributeValues=to_item(
                    {
                        ":pk": pk,
                        ":first": f"{POSTED_DAY_PREFIX}{first.isoformat()}",
                        ":end": f"{POSTED_DAY_PREFIX}~",
                    }
                ),
                ConsistentRead=True,
                # At most one marker a day: the period's, and the first after it.
                Limit=(last - first).days + 2,
            )
            return [
                (
                    date.fromisoformat(item["SK"]["S"].removeprefix(POSTED_DAY_PREFIX)),
                    int(item["firstSequence"]["N"]),
                )
                for item in response.get("Items", [])
            ]

        with ThreadPoolExecutor(max_workers=2) as pool:
            reading = pool.submit(self.load_account, customer_id)
            found = markers()
            account = reading.result()
        if account is None:
            return StatementRead(None, [], 0)
        if (
            account.posted_through is not None
            and account.posted_through > last
            and not any(day > last for day, _ in found)
        ):
            # A day was posted after the markers were read and before the account was: the
            # markers are read again, to know where the period ends (rare).
            found = markers()
        # What was posted after the account was read is not the account's: left out.
        found = [(day, sequence) for day, sequence in found if sequence <= account.entry_count]
        within = [sequence for day, sequence in found if day <= last]
        after = next((sequence for day, sequence in found if day > last), None)
        end = after - 1 if after is not None else account.entry_count
        if not within:
            return StatementRead(account, [], self._balance_after(customer_id, end, account))
        count = end - within[0] + 1
        if count > max_entries:
            raise ValidationFailed(
                f"The period holds {count:,} entries, more than a statement's "
                f"{max_entries:,}; ask for a shorter period",
                {"field": "from", "entries": count, "limit": max_entries},
            )
        items = self._query_all(
            KeyConditionExpression="PK = :pk AND SK BETWEEN :first AND :last",
            ExpressionAttributeValues=to_item(
                {":pk": pk, ":first": entry_sk(within[0]), ":last": entry_sk(max(end, 1))}
            ),
            ConsistentRead=True,
        )
        entries = [model_from_item(LedgerEntry, item) for item in items]
        return StatementRead(account, entries, entries[0].balance_after - entries[0].points)

    def _balance_after(self, customer_id: str, sequence: int, account: Account) -> int:
        """The balance once entry `sequence` was made (the account's own for its newest)."""
        if sequence >= account.entry_count:
            return account.current_balance
        if sequence < 1:
            return 0
        response = self.client.get_item(
            TableName=self.table,
            Key=to_item({"PK": customer_pk(customer_id), "SK": entry_sk(sequence)}),
            ProjectionExpression="balanceAfter",
            ConsistentRead=True,
        )
        return int(response["Item"]["balanceAfter"]["N"])

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
            last, fetch = entry_sk(decode_history_cursor(cursor, customer_id) - 1), limit + 1
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
            next_cursor = encode_history_cursor(entries[-1].sequence, customer_id)
        return account, entries, next_cursor


def encode_history_cursor(before_sequence: int, customer_id: str) -> str:
    """The cursor of a customer's history page: the sequence number it starts below."""
    return encode_cursor({"before": before_sequence}, f"history|{customer_id}")


def decode_history_cursor(cursor: str, customer_id: str) -> int:
    """The sequence number a cursor points below; a tampered cursor, or another customer's,
    is a 422, not a 500."""
    before = decode_cursor(cursor, f"history|{customer_id}").get("before")
    if not isinstance(before, int) or isinstance(before, bool) or not 1 < before <= 10**10:
        raise ValidationFailed("cursor is not valid", {"field": "cursor"})
    return before


# -- approvals, configuration, profiles, cross-customer history ----------------------------

APPROVAL_SK = "APPROVAL"
CONFIG_PK = "CONFIG"
CONFIG_SK = "CURRENT"


def approval_pk(approval_id: str) -> str:
    return f"APPROVAL#{approval_id}"


def approval_item(approval: Approval) -> dict[str, Any]:
    """An approval as stored, in the status index under its status, newest first."""
    return {
        "entity": "APPROVAL",
        **approval.model_dump(mode="json", by_alias=True, exclude_none=True),
        "statusKey": f"APPROVAL#{approval.status.value}",
        "statusSort": f"{iso_utc(approval.requested_at)}#{approval.approval_id}",
    }


def profile_item(profile: CustomerProfile) -> dict[str, Any]:
    values: dict[str, Any] = {
        "PK": customer_pk(profile.customer_id),
        "SK": PROFILE_SK,
        "entity": "PROFILE",
        **profile.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    if profile.email:
        values["emailKey"] = profile.email.strip().lower()
    return values


def erasure_sk(erased_at: datetime) -> str:
    return f"{ERASURE_PREFIX}{iso_utc(erased_at)}"


def erasure_item(erasure: Erasure) -> dict[str, Any]:
    """An erasure as stored, in its customer's partition: never updated or deleted."""
    return {
        "PK": customer_pk(erasure.customer_id),
        "SK": erasure_sk(erasure.erased_at),
        "entity": "ERASURE",
        **erasure.model_dump(mode="json", by_alias=True),
    }


@dataclass(frozen=True)
class ShardedQuery:
    """The partitions of a sharded index to read newest first: items whose sort key lies
    between `low` and `high` (either may be left open), kept by an optional filter."""

    table: str
    index: str
    hash_key: str
    partitions: list[str]
    sort_key: str
    low: str | None = None
    high: str | None = None
    filter: str | None = None
    names: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)


def newest_across_shards(
    client: "DynamoDBClient", query: ShardedQuery, count: int, before: str | None
) -> tuple[list[dict[str, Any]], bool]:
    """The `count` newest items (typed form) of every partition of `query`, older than the
    item whose sort key is `before` when given; and whether more match.

    Each partition is queried at once for its newest `count + 1` (one Query each, in
    parallel), and the pages are merged newest first; a partition is read further only when
    the merge has taken its whole page (or a filter left it short). So a page is never empty
    while items match, and the next page starts below the last item's sort key (sort keys
    are unique: they end with the item's id).
    """
    # A cursor never widens the query: its place is held within the query's own range.
    high = min(before, query.high) if before and query.high else before or query.high
    if query.low is not None and high is not None and high < query.low:
        return [], False
    bounds = {
        (True, True): "BETWEEN :low AND :high",
        (True, False): ">= :low",
        (False, True): "<= :high",
        (False, False): "",
    }[(query.low is not None, high is not None)]
    condition = f"#hash = :partition AND #sort {bounds}" if bounds else "#hash = :partition"
    names = {"#hash": query.hash_key, "#sort": query.sort_key, **query.names}
    if not bounds:
        names.pop("#sort")

    def read(partition: str, start: dict[str, Any] | None) -> dict[str, Any]:
        values = {":partition": partition, **query.values}
        if query.low is not None:
            values[":low"] = query.low
        if high is not None:
            values[":high"] = high
        arguments: dict[str, Any] = {
            "TableName": query.table,
            "IndexName": query.index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item(values),
            "ScanIndexForward": False,
            "Limit": min(count + 1, 1_000),
        }
        if query.filter:
            arguments["FilterExpression"] = query.filter
        if start:
            arguments["ExclusiveStartKey"] = start
        return dict(client.query(**arguments))

    def newest_first(partition: str, page: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        while True:
            for item in page.get("Items", []):
                sort = item[query.sort_key]["S"]
                if sort != before:  # `before` is the last item of the previous page
                    yield sort, item
            if "LastEvaluatedKey" not in page:
                return
            page = read(partition, page["LastEvaluatedKey"])

    first_pages = in_parallel(
        lambda shard: read(query.partitions[shard], None), len(query.partitions)
    )
    merged = heapq.merge(
        *(newest_first(query.partitions[n], page) for n, page in enumerate(first_pages)),
        key=lambda found: found[0],
        reverse=True,
    )
    taken = [item for _, item in islice(merged, count + 1)]
    return taken[:count], len(taken) > count


def encode_key(key: dict[str, Any] | None, scope: str) -> str | None:
    """A DynamoDB LastEvaluatedKey as an opaque cursor, bound to the query it pages
    (`scope`: the partition and filters that query was given)."""
    if not key:
        return None
    return encode_cursor({"key": from_item(key)}, scope)


def decode_key(cursor: str, allowed: set[str], scope: str) -> dict[str, Any]:
    """An opaque cursor back to an ExclusiveStartKey; anything else, or a cursor of another
    query (another customer, status or filters), is a 422, never a request DynamoDB fails."""
    values = decode_cursor(cursor, scope).get("key")
    if (
        not isinstance(values, dict)
        or not values
        or set(values) != allowed
        or not all(isinstance(v, str) and len(v) <= 300 for v in values.values())
    ):
        raise ValidationFailed("cursor is not valid", {"field": "cursor"})
    return to_item(values)


def query_from_cursor(client: "DynamoDBClient", arguments: dict[str, Any]) -> Any:
    """A Query that may start from a cursor's key. The key of a cursor made up by hand (its
    tag is a plain hash, so anyone can make one) can lie outside the query's partition or
    range: DynamoDB refuses it, and that is the caller's 422, not a fault."""
    try:
        return client.query(**arguments)
    except ClientError as refused:
        code = refused.response.get("Error", {}).get("Code")
        if code == "ValidationException" and "ExclusiveStartKey" in arguments:
            raise ValidationFailed("cursor is not valid", {"field": "cursor"}) from None
        raise


class AdminStore:
    """The table seen by the CRM's other records: approvals, configuration, profiles, and
    the ledger read across customers."""

    def __init__(self, client: "DynamoDBClient", table_name: str) -> None:
        self.client = client
        self.table = table_name

    # approvals

    def approval(self, approval_id: str) -> Approval | None:
        response = self.client.get_item(
            TableName=self.table,
            Key=to_item({"PK": approval_pk(approval_id), "SK": APPROVAL_SK}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return model_from_item(Approval, item) if item else None

    def approvals(
        self, status: ApprovalStatus, limit: int, cursor: str | None
    ) -> tuple[list[Approval], str | None]:
        """Approvals in one status, newest first (StatusIndex)."""
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "StatusIndex",
            "KeyConditionExpression": "statusKey = :status",
            "ExpressionAttributeValues": to_item({":status": f"APPROVAL#{status.value}"}),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            arguments["ExclusiveStartKey"] = decode_key(
                cursor, {"PK", "SK", "statusKey", "statusSort"}, f"approvals|{status.value}"
            )
        response = query_from_cursor(self.client, arguments)
        approvals = [model_from_item(Approval, item) for item in response.get("Items", [])]
        return approvals, encode_key(response.get("LastEvaluatedKey"), f"approvals|{status.value}")

    def approval_guard(self, approval: Approval, error: Exception) -> Guard:
        """Write `approval` in a transaction, only if it is still PENDING."""
        return Guard(
            approval_pk(approval.approval_id),
            APPROVAL_SK,
            error,
            condition="#status = :pending",
            values={":pending": ApprovalStatus.PENDING.value},
            names={"#status": "status"},
            put=approval_item(approval),
        )

    def new_approval_guard(self, approval: Approval, error: Exception) -> Guard:
        return Guard(
            approval_pk(approval.approval_id), APPROVAL_SK, error, put=approval_item(approval)
        )

    # configuration

    def stored_config(self) -> tuple[dict[str, Any], int]:
        """The configuration keys set by admins (the rest are defaults), and its version."""
        response = self.client.get_item(
            TableName=self.table,
            Key=to_item({"PK": CONFIG_PK, "SK": CONFIG_SK}),
            ConsistentRead=True,
        )
        values = from_item(response.get("Item", {}))
        return dict(values.get("settings", {})), int(values.get("version", 0))

    def config_guards(
        self,
        settings: dict[str, Any],
        version: int,
        change: dict[str, Any],
        changed_at: str,
        error: Exception,
    ) -> tuple[Guard, ...]:
        """Replace the stored configuration if still at `version`, and audit the change."""
        condition = "attribute_not_exists(PK)" if version == 0 else "version = :version"
        return (
            Guard(
                CONFIG_PK,
                CONFIG_SK,
                error,
                condition=condition,
                values={":version": version} if version else {},
                put={"entity": "CONFIG", "settings": settings, "version": version + 1},
            ),
            Guard(
                CONFIG_PK,
                f"CHANGE#{changed_at}#{version + 1:08d}",
                error,
                put={"entity": "CONFIG_CHANGE", **change},
            ),
        )

    # profiles

    def put_profile(self, profile: CustomerProfile) -> None:
        self.client.put_item(TableName=self.table, Item=to_item(profile_item(profile)))

    def upsert_profile(
        self, profile: CustomerProfile, keep_preferences: bool = False, consent: bool = False
    ) -> None:
        """Write the profile unless a newer one is stored (events may arrive out of order).

        `keep_preferences`: a booking's customer block carries no notification choices, so
        the stored ones stay. A profile whose personal data was erased takes contact details
        again only with the customer's `consent`, which also clears its `erasedAt`; without
        it, only the update's time is recorded (`_updated_while_erased`).
        """
        values = profile_item(profile)
        if keep_preferences:
            values.pop("notifyEmail", None)
            values.pop("notifySms", None)
        names = {f"#{key}": key for key in values if key not in {"PK", "SK"}}
        sets = ", ".join(f"#{key} = :{key}" for key in values if key not in {"PK", "SK"})
        if keep_preferences:
            sets += ", #notifyEmail = if_not_exists(#notifyEmail, :yes)"
            sets += ", #notifySms = if_not_exists(#notifySms, :yes)"
            names.update({"#notifyEmail": "notifyEmail", "#notifySms": "notifySms"})
        attribute_values = {f":{k}": v for k, v in values.items() if k not in {"PK", "SK"}}
        if keep_preferences:
            attribute_values[":yes"] = True
        condition = "(attribute_not_exists(#updatedAt) OR #updatedAt <= :updatedAt)"
        update = f"SET {sets}"
        names["#erasedAt"] = "erasedAt"
        if consent:
            update += " REMOVE #erasedAt"
        else:
            condition += " AND attribute_not_exists(#erasedAt)"
        try:
            self.client.update_item(
                TableName=self.table,
                Key=to_item({"PK": values["PK"], "SK": values["SK"]}),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item(attribute_values),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            # A newer profile is stored, or an erased one that the event may not fill again.
            if not consent:
                self._updated_while_erased(profile.customer_id, profile.updated_at)

    def _updated_while_erased(self, customer_id: str, updated_at: datetime) -> None:
        """An update of an erased profile without the customer's consent: recorded without
        its personal fields, as the time of the latest update (so an older event still never
        overwrites a newer one). Nothing when the profile is not erased or is newer."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=to_item({"PK": customer_pk(customer_id), "SK": PROFILE_SK}),
                UpdateExpression="SET #updatedAt = :updatedAt",
                ConditionExpression="attribute_exists(#erasedAt) AND #updatedAt <= :updatedAt",
                ExpressionAttributeNames={"#updatedAt": "updatedAt", "#erasedAt": "erasedAt"},
                ExpressionAttributeValues=to_item({":updatedAt": iso_utc(updated_at)}),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return

    def erased(self, customer_id: str) -> bool:
        """Whether the customer's personal data is erased (and was not given again since):
        the profile's `erasedAt`, read consistently."""
        response = self.client.get_item(
            TableName=self.table,
            Key=to_item({"PK": customer_pk(customer_id), "SK": PROFILE_SK}),
            ProjectionExpression="#erasedAt",
            ExpressionAttributeNames={"#erasedAt": "erasedAt"},
            ConsistentRead=True,
        )
        return "erasedAt" in response.get("Item", {})

    def profile(self, customer_id: str) -> CustomerProfile | None:
        """The customer's profile (who they are, how they may be told), if any."""
        response = self.client.get_item(
            TableName=self.table, Key=to_item({"PK": customer_pk(customer_id), "SK": PROFILE_SK})
        )
        item = response.get("Item")
        return model_from_item(CustomerProfile, item) if item else None

    def profiles(self, customer_ids: Sequence[str]) -> dict[str, CustomerProfile]:
        """The profiles of these customers that exist, by id: one BatchGetItem per 100."""
        keys = [
            to_item({"PK": customer_pk(customer_id), "SK": PROFILE_SK})
            for customer_id in sorted(set(customer_ids))
        ]
        found = [
            model_from_item(CustomerProfile, item)
            for item in batch_get(self.client, self.table, keys)
        ]
        return {profile.customer_id: profile for profile in found}

    def customers_by_email(self, email: str) -> list[CustomerProfile]:
        response = self.client.query(
            TableName=self.table,
            IndexName="EmailIndex",
            KeyConditionExpression="emailKey = :email",
            ExpressionAttributeValues=to_item({":email": email.strip().lower()}),
            Limit=25,
        )
        return [model_from_item(CustomerProfile, item) for item in response.get("Items", [])]

    # erasures of personal data (POPIA, docs/security.md)

    def erasure_guards(
        self,
        erasure: Erasure,
        erased: CustomerProfile,
        read: CustomerProfile | None,
        moved: Exception,
    ) -> tuple[Guard, ...]:
        """Replace the profile by its erased form (`erased`: no contact details, no
        `emailKey`, so out of EmailIndex) if it is still as `read` (None: there was none),
        else `moved`; and record the erasure."""
        pk = customer_pk(erasure.customer_id)
        if read is None:
            profile = Guard(pk, PROFILE_SK, moved, put=profile_item(erased))
        else:
            profile = Guard(
                pk,
                PROFILE_SK,
                moved,
                condition="#updatedAt = :read AND attribute_not_exists(#erasedAt)",
                values={":read": iso_utc(read.updated_at)},
                names={"#updatedAt": "updatedAt", "#erasedAt": "erasedAt"},
                put=profile_item(erased),
            )
        record = Guard(
            pk,
            erasure_sk(erasure.erased_at),
            Conflict("An erasure was recorded at this very moment; try again", retryable=True),
            put=erasure_item(erasure),
        )
        return profile, record

    def still_erased_guard(self, customer_id: str, erased_at: datetime, moved: Exception) -> Guard:
        """The profile is still erased by the erasure of `erased_at`, else `moved`."""
        return Guard(
            customer_pk(customer_id),
            PROFILE_SK,
            moved,
            condition="#erasedAt = :erasedAt",
            values={":erasedAt": iso_utc(erased_at)},
            names={"#erasedAt": "erasedAt"},
        )

    def commit_erasure(
        self,
        claim: Claim,
        erasure: Erasure,
        guards: Sequence[Guard],
        rewrites: Sequence["TransactWriteItemTypeDef"] = (),
    ) -> None:
        """The erasure's idempotency record, its `guards` (the profile and the erasure
        record) and the `rewrites` of the customer's text (alerts, entries) in one
        transaction. Rewrites beyond what one transaction holds are written first, in
        transactions of their own, once the request is known not to have been made before
        (ClaimTaken otherwise): each takes out only the customer's details, so one written
        by an erasure that then fails is still right."""
        room = transactions.TRANSACTION_ITEMS - 1 - len(guards)
        early = list(rewrites[: max(len(rewrites) - room, 0)])
        if early:
            stored = transactions.read_claim(self.client, self.table, claim)
            if stored is not None:
                raise ClaimTaken(stored)
            size = transactions.TRANSACTION_ITEMS
            for start in range(0, len(early), size):
                transactions.transact(
                    self.client, [(item, None) for item in early[start : start + size]]
                )
        transactions.commit(
            self.client,
            self.table,
            claim,
            erasure,
            guards,
            rewrites[len(early) :],
            erasure.customer_id,
        )

    # the ledger across customers

    def transactions(
        self, kind: str | None, time_from: str, time_to: str, count: int, before: str | None
    ) -> tuple[list[LedgerEntry], bool]:
        """The `count` newest entries of every customer between two `txTime`s (and of one
        type), older than the entry whose `txTime` is `before` when given; and whether more
        match. The shards of the time (or type) index, merged (`newest_across_shards`)."""
        found, more = newest_across_shards(
            self.client,
            ShardedQuery(
                table=self.table,
                index="TransactionsByTypeIndex" if kind else "TransactionsByTimeIndex",
                hash_key="typeShard" if kind else "txShard",
                partitions=[
                    type_shard(kind, shard) if kind else ledger_shard(shard)
                    for shard in range(INDEX_SHARDS)
                ],
                sort_key="txTime",
                low=time_from,
                high=time_to,
            ),
            count,
            before,
        )
        return [model_from_item(LedgerEntry, item) for item in found], more

    def customer_transactions(
        self,
        customer_id: str,
        kind: str | None,
        time_from: str,
        time_to: str,
        limit: int,
        start: dict[str, Any] | None,
    ) -> tuple[list[LedgerEntry], dict[str, Any] | None]:
        """One customer's entries between two times (and of one type), newest first."""
        values = {
            ":pk": customer_pk(customer_id),
            ":prefix": ENTRY_PREFIX,
            ":from": time_from,
            ":to": time_to,
        }
        conditions = ["createdAt BETWEEN :from AND :to"]
        if kind:
            values[":kind"] = kind
            conditions.append("#type = :kind")
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "FilterExpression": " AND ".join(conditions),
            "ExpressionAttributeValues": to_item(values),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if kind:
            arguments["ExpressionAttributeNames"] = {"#type": "type"}
        if start:
            arguments["ExclusiveStartKey"] = start
        response = query_from_cursor(self.client, arguments)
        entries = [model_from_item(LedgerEntry, item) for item in response.get("Items", [])]
        return entries, response.get("LastEvaluatedKey")


# -- the daily runs (SPEC §6) -----------------------------------------------------------------

SCHEDULE_SK = "WATERMARK"


def schedule_pk(schedule: str) -> str:
    """The item of a daily run's watermark."""
    return f"SCHEDULE#{schedule}"


class ScheduleStore:
    """What the daily runs read: the accounts due, by day, and how far a run has got."""

    def __init__(self, client: "DynamoDBClient", table_name: str) -> None:
        self.client = client
        self.table = table_name

    def advance_watermark(self, schedule: str, run_time: datetime) -> None:
        """Record that the run at `run_time` finished; an older run never moves it back."""
        try:
            self.client.update_item(
                TableName=self.table,
                Key=to_item({"PK": schedule_pk(schedule), "SK": SCHEDULE_SK}),
                UpdateExpression="SET runTime = :time, entity = :entity",
                ConditionExpression="attribute_not_exists(runTime) OR runTime < :time",
                ExpressionAttributeValues=to_item(
                    {":time": iso_utc(run_time), ":entity": "SCHEDULE"}
                ),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return  # a later run finished already

    def watermark(self, schedule: str) -> datetime | None:
        """When the last finished run of `schedule` was scheduled, if one has finished."""
        response = self.client.get_item(
            TableName=self.table,
            Key=to_item({"PK": schedule_pk(schedule), "SK": SCHEDULE_SK}),
            ConsistentRead=True,
        )
        found = response.get("Item", {}).get("runTime", {}).get("S")
        return datetime.fromisoformat(found) if found else None

    def accounts_due(self, as_of: datetime) -> list[str]:
        """Customers whose soonest lot expires by `as_of`: one Query per shard, in parallel."""
        return self._customers(
            "ExpiryIndex", "expiryShard", expiry_shard, "expirySort", None, as_of
        )

    def accounts_to_remind(self, since: datetime, horizon: datetime) -> list[str]:
        """Customers with a lot awaiting its reminder whose soonest such lot expires between
        `since` and `horizon`: one Query per shard, in parallel."""
        return self._customers(
            "ReminderIndex",
            "reminderShard",
            reminder_shard,
            "reminderSort",
            iso_utc(since),
            horizon,
        )

    def _customers(
        self,
        index: str,
        shard_key: str,
        shard: Callable[[int], str],
        sort_key: str,
        low: str | None,
        until: datetime,
    ) -> list[str]:
        """The customers of every shard whose sort key lies between `low` (if any) and
        `until`."""
        bounds = "BETWEEN :low AND :until" if low else "<= :until"
        condition = f"{shard_key} = :shard AND {sort_key} {bounds}"
        values = {":low": low} if low else {}

        def read(number: int) -> list[str]:
            arguments: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": index,
                "KeyConditionExpression": condition,
                "ExpressionAttributeValues": to_item(
                    {":shard": shard(number), ":until": f"{iso_utc(until)}#~", **values}
                ),
            }
            found: list[str] = []
            while True:
                response = self.client.query(**arguments)
                found.extend(
                    item["PK"]["S"].removeprefix(CUSTOMER_PREFIX) for item in response["Items"]
                )
                if "LastEvaluatedKey" not in response:
                    return found
                arguments["ExclusiveStartKey"] = response["LastEvaluatedKey"]

        return [customer for customers in in_parallel(read) for customer in customers]


# -- what the change stream has done (SPEC §5, §8) ----------------------------------------------

# How long a done-mark is kept: far longer than a stream record (24 hours) or a queued
# message (4 days) can be delivered again. DynamoDB's TTL deletes it after.
DONE_MARK_DAYS = 30


DONE_PREFIX = "DONE#"


def done_key(source_id: str) -> dict[str, Any]:
    return to_item({"PK": f"{DONE_PREFIX}{source_id}", "SK": "DONE"})


class EffectLog:
    """Which outward effects of a record (an event put on the bus, a notification queued or
    sent) are done, so a record or message delivered again does not repeat them.

    An effect is marked after it succeeded: a crash between the two repeats it once, the
    only way to never lose it. Consumers of the events can tell a repeat by its
    transactionId (or alertId).
    """

    def __init__(self, client: "DynamoDBClient", table_name: str) -> None:
        self.client = client
        self.table = table_name

    def done(self, source_id: str) -> set[str]:
        """The effects of `source_id` done so far."""
        response = self.client.get_item(
            TableName=self.table, Key=done_key(source_id), ConsistentRead=True
        )
        return set(from_item(response.get("Item", {})).get("effects", []))

    def done_many(self, source_ids: Sequence[str]) -> dict[str, set[str]]:
        """The effects done so far of each source: one BatchGetItem per 100 sources."""
        found: dict[str, set[str]] = {}
        for item in batch_get(self.client, self.table, [done_key(s) for s in set(source_ids)]):
            values = from_item(item)
            found[values["PK"].removeprefix(DONE_PREFIX)] = set(values.get("effects", []))
        return found

    def mark(self, source_id: str, effect: str, now: datetime) -> None:
        expires = int(now.timestamp()) + DONE_MARK_DAYS * 86_400
        self.client.update_item(
            TableName=self.table,
            Key=done_key(source_id),
            UpdateExpression="ADD effects :effect SET entity = :entity, #ttl = :ttl",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={
                ":effect": {"SS": [effect]},
                ":entity": {"S": "DONE"},
                ":ttl": {"N": str(expires)},
            },
        )

    def mark_many(
        self, newly: Mapping[str, set[str]], before: Mapping[str, set[str]], now: datetime
    ) -> None:
        """Record effects done, with those done `before` (as read by `done_many`): one
        BatchWriteItem per 25 sources. The stream hands a record to one consumer at a time,
        so the effects read are all there are."""
        expires = int(now.timestamp()) + DONE_MARK_DAYS * 86_400
        items = [
            {
                **done_key(source),
                "entity": {"S": "DONE"},
                "effects": {"SS": sorted(effects | before.get(source, set()))},
                "ttl": {"N": str(expires)},
            }
            for source, effects in newly.items()
            if effects
        ]
        batch_put(self.client, self.table, items)


# BatchGetItem reads at most 100 keys, BatchWriteItem writes at most 25 items a request.
BATCH_GET_KEYS = 100
BATCH_WRITE_ITEMS = 25


def batch_get(client: "DynamoDBClient", table: str, keys: list[dict[str, Any]]) -> list[Any]:
    """The items at `keys` that exist (consistent), BATCH_GET_KEYS to a request; what
    DynamoDB leaves unprocessed is asked for again."""
    found: list[Any] = []
    for start in range(0, len(keys), BATCH_GET_KEYS):
        pending: list[Any] = keys[start : start + BATCH_GET_KEYS]
        for attempt in range(THROTTLED.attempts):
            response = client.batch_get_item(
                RequestItems={table: {"Keys": pending, "ConsistentRead": True}}
            )
            answered: Any = response.get("Responses") or {}
            unread: Any = response.get("UnprocessedKeys") or {}
            found.extend(answered.get(table, []))
            pending = unread.get(table, {}).get("Keys", [])
            if not pending:
                break
            THROTTLED.pause(attempt + 1)
        else:
            raise UnprocessedBatch(f"{len(pending)} keys left unread")
    return found


def batch_put(client: "DynamoDBClient", table: str, items: list[dict[str, Any]]) -> None:
    """Put `items` (typed form), BATCH_WRITE_ITEMS to a request; what DynamoDB leaves
    unprocessed is written again."""
    for start in range(0, len(items), BATCH_WRITE_ITEMS):
        pending: list[Any] = [
            {"PutRequest": {"Item": item}} for item in items[start : start + BATCH_WRITE_ITEMS]
        ]
        for attempt in range(THROTTLED.attempts):
            response = client.batch_write_item(RequestItems={table: pending})
            unprocessed: Any = response.get("UnprocessedItems") or {}
            pending = unprocessed.get(table, [])
            if not pending:
                break
            THROTTLED.pause(attempt + 1)
        else:
            raise UnprocessedBatch(f"{len(pending)} items left unwritten")


class UnprocessedBatch(Exception):
    """DynamoDB kept leaving part of a batch unprocessed: the caller's work is retried."""
