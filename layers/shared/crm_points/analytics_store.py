"""Data access for the analytics aggregates (SPEC §9), kept up to date from the ledger's
change stream: each ledger entry is counted exactly once, and a month's figures are read
with one Query.

Items (docs/data-model.md, "Analytics"):
- a month's totals, `ANALYTICS` / `MONTH#{YYYY-MM}#{shard}`, and the running totals,
  `ANALYTICS` / `TOTAL#{shard}` (which sort after every month): one partition, so the months
  from M-1 on and the totals are one Query, summed over the shards at read. Each count
  writes one shard, chosen at random, so concurrent counts rarely update the same item;
- a marker per counted entry, `ANALYTICS_COUNTED#{transactionId}` / `COUNTED`, written in the
  same TransactWriteItems as the ADD updates of the month and the totals, if absent. Entries
  are counted many to a transaction (a stream batch's), their deltas summed: an entry
  counted before cancels the transaction, which names it, and the rest are counted again
  without it. Markers expire through DynamoDB TTL (`ttl`) after 30 days, long after the
  stream (24 hours of records) can deliver the entry again.

What each month's entries changed in the cohorts' lines (crm_points.cohorts) is kept
beside, `ANALYTICS` / `COHORT#{YYYY-MM}#{shard}`, one attribute per cohort and line
(`{issue month}#{line}`), ADDed in the same transaction; a month's changes of many cohorts
are spread over several shards, at most `COHORT_ATTRIBUTES` to an item, so that no update
expression nears DynamoDB's 4 KB. They sort before the months: the analytics' Query (from
the month before the one asked) does not read them; finance's (`ledger`) starts with them.

Finance's closed months (docs/finance.md) live in the same partition, `ANALYTICS` /
`PERIOD#{YYYY-MM}` (between the months and the running totals), so that a roll-forward is
the same one Query: each holds the month's figures as they were when it was closed, and
who closed it, when. It is written once, if absent, and never changed.

Every item has an `entity` of its own (ANALYTICS_MONTH, ANALYTICS_TOTAL, ANALYTICS_COUNTED,
ANALYTICS_COHORT, ANALYTICS_PERIOD), which the stream consumer does not select.
"""

import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic.alias_generators import to_camel

from crm_points import metrics
from crm_points.analytics import (
    MonthTotals,
    PointsAnalytics,
    RunningTotals,
    effect_of,
    points_analytics,
    previous_month,
    reportable_month,
)
from crm_points.cohorts import Changes, joined
from crm_points.config import PointsConfig
from crm_points.dynamo import queried, to_item
from crm_points.errors import Conflict
from crm_points.ledger_store import api_claim
from crm_points.records import Actor, LedgerEntry
from crm_points.transactions import (
    CONFLICTS,
    TRANSACTION_ITEMS,
    ClaimTaken,
    Guard,
    Idempotent,
    Retry,
    WriteConflict,
    commit,
    read_claim,
    replayed,
    retries_exhausted,
    write_once,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

    from crm_points.finance import ClosedPeriod, Ledger

ANALYTICS_PK = "ANALYTICS"
MONTH_PREFIX = "MONTH#"
COHORT_PREFIX = "COHORT#"
TOTAL_SK = "TOTAL"
PERIOD_PREFIX = "PERIOD#"
MARKER_SK = "COUNTED"
# A rebuild's correction of a closed month (sorts before MONTH#, outside every read range).
CORRECTION_PREFIX = "CORRECTION#"
# The marker's expiry attribute (TimeToLiveSpecification of PointsTable in template.yaml).
TTL_ATTRIBUTE = "ttl"
MARKER_LIFETIME_SECONDS = 30 * 24 * 3600
# Rounds before a count that keeps meeting concurrent transactions on the same aggregates
# gives up with a retryable error (the stream consumer's batch is then retried).
MAX_ATTEMPTS = 12
# The aggregate items of a month (and the running totals) a count may update.
AGGREGATE_SHARDS = 8
# Cohort lines one update ADDs at most: "#a99 :a99, " is 11 characters, so its expression
# stays under 1.2 KB of DynamoDB's 4 KB. A month's changes of one transaction take at most
# one item per shard: 800 lines, a debit of points issued over 66 years of months.
COHORT_ATTRIBUTES = 100

# Attribute names of the month and running totals: the camelCase of the fields.
_MONTH_ATTRIBUTES = {item.name: to_camel(item.name) for item in fields(MonthTotals)}
_RUNNING_ATTRIBUTES = {item.name: to_camel(item.name) for item in fields(RunningTotals)}
_KEY_ATTRIBUTES = {"PK", "SK", "entity"}
_COHORT_KEYS = _KEY_ATTRIBUTES | {"month"}


def month_sk(month: str, shard: int | None = None) -> str:
    """The sort key of a month's totals (`YYYY-MM`) in one shard (items counted before the
    totals were sharded have none)."""
    return f"{MONTH_PREFIX}{month}" if shard is None else f"{MONTH_PREFIX}{month}#{shard}"


def total_sk(shard: int) -> str:
    """The sort key of the running totals in one shard."""
    return f"{TOTAL_SK}#{shard}"


def cohort_sk(month: str, shard: int) -> str:
    """The sort key of a month's changes to the cohorts' lines, in one shard."""
    return f"{COHORT_PREFIX}{month}#{shard}"


def period_sk(month: str) -> str:
    """The sort key of a closed month's snapshot."""
    return f"{PERIOD_PREFIX}{month}"


def marker_pk(transaction_id: str) -> str:
    """The partition of the marker that says an entry was counted."""
    return f"ANALYTICS_COUNTED#{transaction_id}"


def _add_update(
    table: str, sort_key: str, entity: str, added: dict[str, int], extra: dict[str, str]
) -> "TransactWriteItemTypeDef":
    """An Update that ADDs `added` (attribute: delta) and SETs `entity` and `extra`."""
    names = {f"#a{index}": name for index, name in enumerate(added)}
    names.update({f"#s{index}": name for index, name in enumerate(extra)})
    names["#entity"] = "entity"
    values: dict[str, Any] = {f":a{index}": delta for index, delta in enumerate(added.values())}
    values.update({f":s{index}": value for index, value in enumerate(extra.values())})
    values[":entity"] = entity
    sets = ", ".join(
        ["#entity = :entity", *(f"#s{index} = :s{index}" for index in range(len(extra)))]
    )
    adds = ", ".join(f"#a{index} :a{index}" for index in range(len(added)))
    return {
        "Update": {
            "TableName": table,
            "Key": to_item({"PK": ANALYTICS_PK, "SK": sort_key}),
            "UpdateExpression": f"SET {sets} ADD {adds}",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item(values),
        }
    }


def _put_new(table: str, item: dict[str, Any]) -> "TransactWriteItemTypeDef":
    """A Put of an item that must not exist yet (a counted entry's marker, a correction's
    record): its failed condition says the work was done before."""
    return {
        "Put": {
            "TableName": table,
            "Item": to_item(item),
            "ConditionExpression": "attribute_not_exists(PK)",
        }
    }


def _month_attributes(totals: MonthTotals) -> dict[str, int]:
    """A month's totals as the attributes of its item."""
    return {_MONTH_ATTRIBUTES[name]: value for name, value in asdict(totals).items()}


def _month_update(
    table: str, month: str, shard: int, totals: MonthTotals
) -> "TransactWriteItemTypeDef":
    """ADD `totals` to one shard of the month's totals."""
    return _add_update(
        table,
        month_sk(month, shard),
        "ANALYTICS_MONTH",
        _month_attributes(totals),
        {"month": month},
    )


def _cohort_updates(
    table: str, month: str, shard: int, changes: Changes
) -> list["TransactWriteItemTypeDef"]:
    """ADD `changes` (one month's, to the cohorts' lines) to the month's cohort items, at
    most COHORT_ATTRIBUTES to an item, from `shard` on."""
    keys = sorted(changes)
    chunks = [keys[at : at + COHORT_ATTRIBUTES] for at in range(0, len(keys), COHORT_ATTRIBUTES)]
    if len(chunks) > AGGREGATE_SHARDS:
        raise ValueError(
            f"{len(keys)} cohort lines changed in one month: more than one count holds"
        )
    return [
        _add_update(
            table,
            cohort_sk(month, (shard + index) % AGGREGATE_SHARDS),
            "ANALYTICS_COHORT",
            {key: changes[key] for key in chunk},
            {"month": month},
        )
        for index, chunk in enumerate(chunks)
    ]


def _cohort_items(lines: int) -> int:
    """The items a month's changes to `lines` cohort lines take."""
    return -(-lines // COHORT_ATTRIBUTES)


def _cohort_lines(values: dict[str, Any]) -> Changes:
    """A cohort item's lines (its attributes other than the key's and the month)."""
    return {key: int(value) for key, value in values.items() if key not in _COHORT_KEYS}


def _running_update(table: str, shard: int, running: RunningTotals) -> "TransactWriteItemTypeDef":
    """ADD `running` to one shard of the running totals."""
    added = {_RUNNING_ATTRIBUTES[name]: value for name, value in asdict(running).items()}
    return _add_update(table, total_sk(shard), "ANALYTICS_TOTAL", added, {})


class AnalyticsStore:
    """The analytics aggregates in the points table."""

    def __init__(
        self,
        client: "DynamoDBClient",
        table_name: str,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.table = table_name
        self.clock = clock
        self.sleep = sleep

    def count(self, entry: LedgerEntry) -> bool:
        """Add `entry`'s effect to the aggregates, exactly once however often it is called
        for the same entry, concurrently included.

        True: this call added it. False: nothing was added, because the entry had been
        counted already, or because it changes no figure (an EXPIRY_EXTENDED entry), in
        which case nothing is written.
        """
        return self.count_all([entry]) == 1

    def count_all(self, entries: Sequence[LedgerEntry]) -> int:
        """Add each entry's effect once (see `count`), as many entries to a transaction as
        fit (a marker each, per month they fall in an update of its totals and of its
        cohort items, and the running totals: at most TRANSACTION_ITEMS); how many this call
        added."""
        added = 0
        together: list[LedgerEntry] = []
        months: dict[str, set[str]] = {}  # the cohort lines each month's changes touch
        for entry in entries:
            effect = effect_of(entry)
            if effect.is_empty:
                continue
            with_it = {
                **months,
                effect.month: months.get(effect.month, set()) | effect.cohorts.keys(),
            }
            # The markers with this entry's, the running totals, and each month's items.
            items = len(together) + 2 + sum(1 + _cohort_items(len(k)) for k in with_it.values())
            too_many = max(_cohort_items(len(lines)) for lines in with_it.values())
            if together and (items > TRANSACTION_ITEMS or too_many > AGGREGATE_SHARDS):
                added += self._count_together(together)
                together, months = [], {}
                with_it = {effect.month: set(effect.cohorts)}
            together.append(entry)
            months = with_it
        return added + self._count_together(together)

    def _count_together(self, entries: list[LedgerEntry]) -> int:
        for attempt in range(MAX_ATTEMPTS):
            if not entries:
                return 0
            try:
                self.client.transact_write_items(TransactItems=self._count_items(entries))
                # The one place each ledger movement is counted as a metric: these entries
                # were just counted for the first time (a marker each, in this transaction).
                metrics.ledger_movements(entries)
                return len(entries)
            except self.client.exceptions.TransactionCanceledException as cancelled:
                reasons = cancelled.response.get("CancellationReasons", [])
                # The markers come first, one per entry: a failed condition names an entry
                # counted before. The others are counted again without it.
                counted_before = {
                    index
                    for index, reason in enumerate(reasons[: len(entries)])
                    if reason.get("Code") == "ConditionalCheckFailed"
                }
                if counted_before:
                    entries = [e for i, e in enumerate(entries) if i not in counted_before]
                    continue
                # Another count was updating the same aggregate item at that moment
                # (TransactionConflict): nothing was written; try again.
                CONFLICTS.pause(attempt + 1, self.sleep)
        raise Conflict(
            "The analytics aggregates are busy; count the entries again",
            {"transactionIds": [entry.transaction_id for entry in entries]},
            retryable=True,
        )

    def _count_items(self, entries: list[LedgerEntry]) -> list["TransactWriteItemTypeDef"]:
        """Every entry's marker, then the sums of their effects by month, and on the running
        totals, in one shard of the aggregates."""
        counted_at = int(self.clock())
        by_month: dict[str, MonthTotals] = defaultdict(MonthTotals)
        cohorts_by_month: dict[str, Changes] = defaultdict(dict)
        items: list[TransactWriteItemTypeDef] = []
        for entry in entries:
            effect = effect_of(entry)
            by_month[effect.month] += effect.totals
            cohorts_by_month[effect.month] = joined(cohorts_by_month[effect.month], effect.cohorts)
            marker = {
                "PK": marker_pk(entry.transaction_id),
                "SK": MARKER_SK,
                "entity": "ANALYTICS_COUNTED",
                "customerId": entry.customer_id,
                "month": effect.month,
                "countedAt": counted_at,
                TTL_ATTRIBUTE: counted_at + MARKER_LIFETIME_SECONDS,
            }
            items.append(_put_new(self.table, marker))
        shard = random.randrange(AGGREGATE_SHARDS)
        running = RunningTotals()
        for month, totals in sorted(by_month.items()):
            if not totals.is_empty:
                items.append(_month_update(self.table, month, shard, totals))
            items.extend(_cohort_updates(self.table, month, shard, cohorts_by_month[month]))
            running += totals.running
        if any(asdict(running).values()):
            items.append(_running_update(self.table, shard, running))
        return items

    def analytics(self, month: str, now: datetime) -> PointsAnalytics:
        """SPEC §9's figures for `month` as of `now` (for a past month, as of its end).

        One strongly consistent Query of the analytics partition from the previous month's
        totals up to the running totals, every shard of them, summed. A month later than
        `now`'s is refused (422).
        """
        month = reportable_month(month, now)
        months, running = self._aggregates(month_sk(previous_month(month)))
        return points_analytics(month, months, running)

    def correct(
        self, month: str, delta: MonthTotals, basis: str, cohorts: Changes | None = None
    ) -> bool:
        """ADD `delta` to a closed month's totals and to the running totals, and `cohorts`
        to its cohort lines, in one transaction with a record of the correction under
        `basis` (what it was computed from: the same basis is never applied twice, so two
        rebuilds racing add it once). False when it had been applied."""
        cohorts = cohorts or {}
        record = {
            "PK": ANALYTICS_PK,
            "SK": f"{CORRECTION_PREFIX}{month}#{basis}",
            "entity": "ANALYTICS_CORRECTION",
            "month": month,
            **_month_attributes(delta),
            **({"cohorts": cohorts} if cohorts else {}),
            "correctedAt": int(self.clock()),
        }
        items = [
            _put_new(self.table, record),
            _month_update(self.table, month, 0, delta),
            _running_update(self.table, 0, delta.running),
            *_cohort_updates(self.table, month, 0, cohorts),
        ]
        return write_once(self.client, items)

    def aggregates(self) -> tuple[dict[str, MonthTotals], RunningTotals]:
        """Every month's totals and the running totals, each summed over its shards: what
        the reconciliation compares with the entries."""
        return self._aggregates(MONTH_PREFIX)

    def cohort_changes(self, last: str | None = None) -> dict[str, Changes]:
        """Each month's changes to the cohorts' lines, summed over the shards, for every
        month up to `last` (every month by default): one strongly consistent Query.

        A month's cohort items hold about 20 bytes a line, and a month's entries change a
        few lines of each cohort with points still held: a Query page (1 MB) holds years
        of months (docs/capacity.md, "Cohorts")."""
        upper = f"{COHORT_PREFIX}{last}#~" if last else f"{COHORT_PREFIX}~"
        changes: dict[str, Changes] = {}
        for values in self._query(COHORT_PREFIX, upper):
            month = values["month"]
            changes[month] = joined(changes.get(month, {}), _cohort_lines(values))
        return changes

    def ledger(self) -> "Ledger":
        """Every month's totals and finance's closed months: what the roll-forward is
        computed from, in one strongly consistent Query of the analytics partition."""
        # Imported here: only the finance functions read closed months, and the analytics
        # function and the stream consumer need not load finance's models at cold start.
        from crm_points.finance import Ledger

        periods: dict[str, ClosedPeriod] = {}
        cohorts: dict[str, Changes] = {}
        months, _ = self._aggregates(COHORT_PREFIX, periods, cohorts)
        return Ledger(months, periods, cohorts)

    def close_period(
        self,
        month: str,
        actor: Actor,
        now: datetime,
        config: PointsConfig,
        idempotency_key: str,
    ) -> Idempotent["ClosedPeriod"]:
        """Close `month` (finance.period_to_close): its snapshot, Put if absent, in one
        transaction with the request's idempotency record and a check that the month before
        is closed (unless none is). The same Idempotency-Key again answers the first answer."""
        payload = {"month": month, "actor": actor.user_id}
        claim = api_claim(actor.user_id, idempotency_key, "close-period", payload)

        from crm_points.finance import ClosedPeriod, period_to_close

        def attempt() -> ClosedPeriod:
            ledger = self.ledger()
            try:
                period = period_to_close(ledger, month, actor, now, config)
            except Conflict:
                # The request that closed it, made again, still gets its answer.
                stored = read_claim(self.client, self.table, claim)
                if stored is not None:
                    raise ClaimTaken(stored) from None
                raise
            moved = Conflict(
                "Another month was closed at the same moment; look at the periods again",
                {"month": month},
            )
            guards = [
                Guard(
                    ANALYTICS_PK,
                    period_sk(month),
                    Conflict("This month is closed already", {"month": month}),
                    put={
                        "entity": "ANALYTICS_PERIOD",
                        **period.model_dump(mode="json", by_alias=True),
                    },
                )
            ]
            if ledger.last_closed is not None:
                guards.append(Guard.present(ANALYTICS_PK, period_sk(ledger.last_closed), moved))
            commit(self.client, self.table, claim, period, guards)
            return period

        try:
            closed = Retry(MAX_ATTEMPTS, self.sleep, (WriteConflict,)).run(
                attempt, lambda: retries_exhausted("DynamoDB did not answer; try again")
            )
        except ClaimTaken as taken:
            return replayed(claim, taken.stored, ClosedPeriod)
        return Idempotent(closed)

    def _aggregates(
        self,
        first: str,
        periods: "dict[str, ClosedPeriod] | None" = None,
        cohorts: dict[str, Changes] | None = None,
    ) -> tuple[dict[str, MonthTotals], RunningTotals]:
        """The months from the sort key `first` on, and the running totals, summed over the
        shards (and, into `periods`, the closed months; into `cohorts`, each month's changes
        to the cohorts' lines, when `first` reaches them): one strongly consistent Query of
        the analytics partition."""
        months: dict[str, MonthTotals] = {}
        running = RunningTotals()
        # A month's item is about 200 bytes: one page holds centuries of months.
        for values in self._query(first, f"{TOTAL_SK}#~"):
            if values["SK"].startswith(TOTAL_SK):
                running += RunningTotals(
                    **{name: int(values.get(attr, 0)) for name, attr in _RUNNING_ATTRIBUTES.items()}
                )
            elif values["SK"].startswith(PERIOD_PREFIX):
                if periods is not None:
                    from crm_points.finance import ClosedPeriod

                    period = ClosedPeriod.model_validate(
                        {k: v for k, v in values.items() if k not in _KEY_ATTRIBUTES}
                    )
                    periods[period.month] = period
            elif values["SK"].startswith(COHORT_PREFIX):
                if cohorts is not None:
                    month = values["month"]
                    cohorts[month] = joined(cohorts.get(month, {}), _cohort_lines(values))
            elif values["SK"].startswith(MONTH_PREFIX):
                key = values["SK"].removeprefix(MONTH_PREFIX)[:7]
                months[key] = months.get(key, MonthTotals()) + MonthTotals(
                    **{name: int(values.get(attr, 0)) for name, attr in _MONTH_ATTRIBUTES.items()}
                )
        return months, running

    def _query(self, first: str, last: str) -> Iterator[dict[str, Any]]:
        """The analytics items whose sort keys lie from `first` to `last`: one strongly
        consistent Query, followed to its last page."""
        query: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :first AND :last",
            "ExpressionAttributeValues": to_item(
                {":pk": ANALYTICS_PK, ":first": first, ":last": last}
            ),
            "ConsistentRead": True,
        }
        return queried(self.client, query)
