"""Data access for alerts (SPEC §7): raising them once per trigger, at most one unresolved
alert per type and subject, the reads of the API, and acknowledging and resolving.

Items (docs/data-model.md, "Alerts"):
- the alert, `ALERT#{alertId}` / `ALERT`, in the status index under `ALERT#{status}` and in
  the subject index under its subject, with a storage-only `version` that every change of
  the alert is conditioned on;
- the lock of a type and subject, `ALERTLOCK#{type}#{subject}` / `LOCK`: while an alert of
  that type and subject is unresolved, the lock names it (`alertId`); it is taken in the
  same transaction that writes a new alert and released in the one that resolves it, so
  two raisers at once cannot both make an alert;
- the trigger's record, `IDEMPOTENCY#alert:{triggerKey}` / `REQUEST`, written in the same
  transaction as what the trigger did: the same trigger delivered again does nothing.

Every write is one TransactWriteItems made by `transactions.commit`, with the request's
idempotency record, as for ledger postings.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from crm_points import transactions
from crm_points.alerts import (
    Alert,
    AlertPriority,
    AlertStatus,
    AlertType,
    acknowledged,
    resolved,
    triggered_again,
)
from crm_points.dynamo import query_items, to_item
from crm_points.errors import Conflict, NotFound
from crm_points.ledger_store import (
    INDEX_SHARDS,
    ShardedQuery,
    api_claim,
    decode_key,
    encode_key,
    idempotency_pk,
    index_shard,
    model_from_item,
    newest_across_shards,
    query_from_cursor,
    wall_clock,
    written_keys,
)
from crm_points.records import Actor, iso_utc
from crm_points.transactions import (
    CLAIM_SK,
    Claim,
    ClaimTaken,
    Guard,
    Idempotent,
    Retry,
    WriteConflict,
    fingerprint,
    replay_answer,
    replayed,
    retries_exhausted,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

ALERT_SK = "ALERT"
LOCK_SK = "LOCK"
STATUS_INDEX = "StatusIndex"
SUBJECT_INDEX = "AlertSubjectIndex"
# Rounds of read-and-write before a raiser or a change that keeps losing races gives up
# with a retryable 409: every lost round means another writer's change went through.
MAX_ATTEMPTS = 12

AlertPage = tuple[list[Alert], str | None]


def alert_pk(alert_id: str) -> str:
    """The partition of one alert."""
    return f"ALERT#{alert_id}"


def alert_status_key(status: AlertStatus, shard: int) -> str:
    """An alert's partition of the status index (shared with approvals' `APPROVAL#…`): its
    status, and a shard of its subject, since a reminder run raises an alert per customer."""
    return f"ALERT#{status.value}#{shard:02d}"


def customer_subject(customer_id: str) -> str:
    """A customer alert's subject (`Alert.subject`): its partition of the subject index."""
    return f"CUSTOMER#{customer_id}"


def lock_pk(alert_type: AlertType, subject: str) -> str:
    """The lock of a type and subject: held by the unresolved alert of that pair."""
    return f"ALERTLOCK#{alert_type.value}#{subject}"


def trigger_pk(trigger_key: str) -> str:
    """The idempotency record of one trigger."""
    return idempotency_pk(f"alert:{trigger_key}")


def alert_item(alert: Alert, version: int, written_at: datetime) -> dict[str, Any]:
    """An alert as stored: in the status index under its status and in the subject index
    under its customer (or month), both newest first; `version` orders its changes. In the
    written index at `written_at`, when it was first written (its changes keep that)."""
    newest_first = f"{iso_utc(alert.created_at)}#{alert.alert_id}"
    return {
        "entity": "ALERT",
        **written_keys(alert.subject, written_at),
        **alert.model_dump(mode="json", by_alias=True, exclude_none=True),
        "statusKey": alert_status_key(alert.status, index_shard(alert.subject)),
        "statusSort": newest_first,
        "subjectKey": alert.subject,
        "subjectSort": newest_first,
        "version": version,
    }


@dataclass(frozen=True)
class _StoredAlert:
    """An alert as read, with what a change of it must keep."""

    alert: Alert
    version: int
    written_at: datetime


def _stored(item: dict[str, Any]) -> _StoredAlert:
    """An alert item (typed form) as read, with its version and when it was first written."""
    alert = model_from_item(Alert, item)
    # An alert stored before the written index existed has no `writtenAt`: it enters the
    # index at its creation time when it next changes.
    written = item.get("writtenAt", {}).get("S")
    written_at = datetime.fromisoformat(written) if written else alert.created_at
    return _StoredAlert(alert, int(item["version"]["N"]), written_at)


class _LockHeld(Exception):
    """Another alert of this type and subject took the lock first."""


class _AlertMoved(Exception):
    """The alert changed since it was read (another trigger, acknowledgement, resolution)."""


class AlertStore:
    """Alerts in the points table."""

    def __init__(
        self,
        client: "DynamoDBClient",
        table_name: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = wall_clock,
    ) -> None:
        self.client = client
        self.table = table_name
        self.sleep = sleep
        self.clock = clock  # when an alert is first written (store.written_keys)

    # -- raising -----------------------------------------------------------------------

    def raise_alert(self, alert: Alert, trigger_key: str) -> tuple[Alert, bool]:
        """Raise `alert` (made by `alerts.new_alert`) for one trigger, e.g.
        `entry:{transactionId}` or `reminder:{customerId}:{runTime}`.

        True: the alert was written. False: nothing new was made — either this trigger was
        handled before (its alert is returned as it is now), or an alert of this type and
        subject is unresolved, which now counts one more occurrence and is returned.
        Safe under concurrent raisers and redeliveries: one transaction writes the
        trigger's record with the alert (and its lock) or with the occurrence.
        """
        if alert.status is not AlertStatus.OPEN or alert.occurrences != 1:
            raise ValueError("raise_alert takes a new alert (alerts.new_alert)")
        claim = Claim(
            trigger_pk(trigger_key),
            CLAIM_SK,
            fingerprint("alert-trigger", {"type": alert.type.value, "subject": alert.subject}),
            trigger_key,
        )
        retry = self._retry(_LockHeld, _AlertMoved, WriteConflict)
        try:
            return retry.run(
                partial(self._raise_once, alert, claim),
                lambda: retries_exhausted(
                    "The alert changed too often while it was being raised; try again",
                    {"type": alert.type.value, "subject": alert.subject},
                ),
            )
        except ClaimTaken as taken:
            first = replay_answer(claim, taken.stored, Alert)
            # The record names this very alert only if an attempt of this call wrote it and
            # its answer was lost.
            created = retry.outcome_unknown and first.alert_id == alert.alert_id
            return self.get(first.alert_id) or first, created

    def _raise_once(self, alert: Alert, claim: Claim) -> tuple[Alert, bool]:
        holder = self._lock_holder(alert.type, alert.subject)
        if holder is None:
            guards = (self._take_lock(alert), self._write_new(alert))
            self._commit(claim, alert, guards, alert.customer_id)
            return alert, True
        found = self._read(holder)
        if found is None:
            # The lock and its alert are written in one transaction, so a lock naming no
            # alert is nothing to count on: look again, and give up with a 409 if it lasts.
            raise _AlertMoved
        updated = triggered_again(found.alert, alert)
        self._commit(claim, updated, (self._write_change(updated, found),), alert.customer_id)
        return updated, False

    def _lock_holder(self, alert_type: AlertType, subject: str) -> str | None:
        """The id of the unresolved alert of this type and subject, if any."""
        response = self.client.get_item(
            TableName=self.table,
            Key=to_item({"PK": lock_pk(alert_type, subject), "SK": LOCK_SK}),
            ConsistentRead=True,
        )
        holder = response.get("Item", {}).get("alertId")
        return str(holder["S"]) if holder else None

    def _take_lock(self, alert: Alert) -> Guard:
        return Guard(
            lock_pk(alert.type, alert.subject),
            LOCK_SK,
            _LockHeld(),
            condition="attribute_not_exists(alertId)",
            put={
                "entity": "ALERT_LOCK",
                "alertType": alert.type.value,
                "subject": alert.subject,
                "alertId": alert.alert_id,
            },
        )

    def _release_lock(self, alert: Alert, now: datetime) -> Guard:
        # Released by rewriting the lock without a holder, under the condition that this
        # alert held it: the shared transaction writer conditions Puts and checks, and a
        # released lock is taken again the same way as one never taken.
        return Guard(
            lock_pk(alert.type, alert.subject),
            LOCK_SK,
            Conflict("The alert's lock is held by another alert", {"alertId": alert.alert_id}),
            condition="alertId = :alert",
            values={":alert": alert.alert_id},
            put={
                "entity": "ALERT_LOCK",
                "alertType": alert.type.value,
                "subject": alert.subject,
                "releasedAlertId": alert.alert_id,
                "releasedAt": iso_utc(now),
            },
        )

    def _write_new(self, alert: Alert) -> Guard:
        return Guard(
            alert_pk(alert.alert_id),
            ALERT_SK,
            Conflict("Alert id collision; try again", retryable=True),
            put=alert_item(alert, 1, self.clock()),
        )

    def _write_change(self, alert: Alert, read: "_StoredAlert") -> Guard:
        """Write the changed alert only if it is still as `read`."""
        return Guard(
            alert_pk(alert.alert_id),
            ALERT_SK,
            _AlertMoved(),
            condition="version = :version",
            values={":version": read.version},
            put=alert_item(alert, read.version + 1, read.written_at),
        )

    # -- reads -------------------------------------------------------------------------

    def get(self, alert_id: str) -> Alert | None:
        """One alert as of now, or None."""
        found = self._read(alert_id)
        return found.alert if found else None

    def _read(self, alert_id: str) -> "_StoredAlert | None":
        response = self.client.get_item(
            TableName=self.table,
            Key=to_item({"PK": alert_pk(alert_id), "SK": ALERT_SK}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return _stored(item) if item else None

    def every_one_about(self, customer_id: str) -> list[Alert]:
        """Every alert about the customer, newest first (AlertSubjectIndex, followed to
        its end)."""
        return [found.alert for found in self._about(customer_id)]

    def rewrites(
        self, customer_id: str, rewrite: Callable[[Alert], Alert]
    ) -> list[tuple[Alert, "TransactWriteItemTypeDef"]]:
        """The customer's alerts that `rewrite` changes: each as it becomes, and the Put
        that writes it if it is still at the version read (a change of a transaction: if
        the alert moved meanwhile, the transaction fails and the caller reads again). Its
        status, lock and place in the indexes stay."""
        changed = []
        for found in self._about(customer_id):
            rewritten = rewrite(found.alert)
            if rewritten != found.alert:
                write = self._write_change(rewritten, found)
                changed.append((rewritten, transactions.as_change(self.table, write)))
        return changed

    def _about(self, customer_id: str) -> list["_StoredAlert"]:
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": SUBJECT_INDEX,
            "KeyConditionExpression": "subjectKey = :subject",
            "ExpressionAttributeValues": to_item({":subject": customer_subject(customer_id)}),
            "ScanIndexForward": False,
        }
        return [_stored(item) for item in query_items(self.client, arguments)]

    def for_customer(
        self,
        customer_id: str,
        status: AlertStatus | None = None,
        priority: AlertPriority | None = None,
        type: AlertType | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> AlertPage:
        """A customer's alerts, newest first, of every status unless one is asked for
        (AlertSubjectIndex; status, priority and type filter the page)."""
        return self._page(
            SUBJECT_INDEX,
            ("subjectKey", "subjectSort"),
            customer_subject(customer_id),
            {"status": status, "priority": priority, "type": type},
            limit,
            cursor,
        )

    def _page(
        self,
        index: str,
        keys: tuple[str, str],
        partition: str,
        filters: dict[str, AlertStatus | AlertPriority | AlertType | None],
        limit: int,
        cursor: str | None,
    ) -> AlertPage:
        """One Query of an index partition, newest first, with the filters given."""
        hash_key, range_key = keys
        values: dict[str, Any] = {":partition": partition}
        names: dict[str, str] = {}
        conditions = []
        for name, wanted in filters.items():
            if wanted is not None:
                names[f"#{name}"] = name
                values[f":{name}"] = wanted.value
                conditions.append(f"#{name} = :{name}")
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": f"{hash_key} = :partition",
            "ExpressionAttributeValues": to_item(values),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if conditions:
            arguments["FilterExpression"] = " AND ".join(conditions)
            arguments["ExpressionAttributeNames"] = names
        scope = f"alerts|{index}|{partition}|{sorted(values.items())}"
        if cursor:
            arguments["ExclusiveStartKey"] = decode_key(
                cursor, {"PK", "SK", hash_key, range_key}, scope
            )
        response = query_from_cursor(self.client, arguments)
        alerts = [model_from_item(Alert, item) for item in response.get("Items", [])]
        return alerts, encode_key(response.get("LastEvaluatedKey"), scope)

    # -- acknowledging and resolving ---------------------------------------------------

    def acknowledge(
        self,
        alert_id: str,
        actor: Actor,
        now: datetime,
        note: str | None,
        *,
        idempotency_key: str,
    ) -> Idempotent[Alert]:
        """OPEN -> ACKNOWLEDGED. An alert already acknowledged or resolved: 409 CONFLICT;
        unknown: 404. The same Idempotency-Key again answers the first answer."""
        return self._change("acknowledge", alert_id, actor, now, note, idempotency_key)

    def resolve(
        self,
        alert_id: str,
        actor: Actor,
        now: datetime,
        note: str | None,
        *,
        idempotency_key: str,
    ) -> Idempotent[Alert]:
        """OPEN or ACKNOWLEDGED -> RESOLVED, releasing the type and subject for a new alert
        in the same transaction. Already resolved: 409 CONFLICT; unknown: 404."""
        return self._change("resolve", alert_id, actor, now, note, idempotency_key)

    def _change(
        self,
        verb: str,
        alert_id: str,
        actor: Actor,
        now: datetime,
        note: str | None,
        idempotency_key: str,
    ) -> Idempotent[Alert]:
        payload = {"alertId": alert_id, "note": note, "actor": actor.user_id}
        claim = api_claim(actor.user_id, idempotency_key, f"alert-{verb}", payload)
        try:
            return self._retry(_AlertMoved, WriteConflict).run(
                partial(self._change_once, verb, alert_id, actor, now, note, claim),
                lambda: retries_exhausted(
                    "The alert changed too often while this request was being made; try again",
                    {"alertId": alert_id},
                ),
            )
        except ClaimTaken as taken:
            return replayed(claim, taken.stored, Alert)

    def _change_once(
        self,
        verb: str,
        alert_id: str,
        actor: Actor,
        now: datetime,
        note: str | None,
        claim: Claim,
    ) -> Idempotent[Alert]:
        found = self._read(alert_id)
        if found is None:
            raise NotFound(f"Alert {alert_id} does not exist", {"alertId": alert_id})
        alert = found.alert
        allowed = alert.status is AlertStatus.OPEN or (
            verb == "resolve" and alert.status is AlertStatus.ACKNOWLEDGED
        )
        if not allowed:
            # The request that made this change, made again, still gets its answer.
            stored = transactions.read_claim(self.client, self.table, claim)
            if stored is not None:
                raise ClaimTaken(stored)
            raise Conflict(
                f"This alert is already {alert.status.value.lower()}",
                {"alertId": alert_id, "status": alert.status.value},
            )
        if verb == "acknowledge":
            changed = acknowledged(alert, actor, now, note)
            guards: tuple[Guard, ...] = (self._write_change(changed, found),)
        else:
            changed = resolved(alert, actor, now, note)
            guards = (self._write_change(changed, found), self._release_lock(alert, now))
        self._commit(claim, changed, guards, alert.customer_id)
        return Idempotent(changed)

    def _commit(
        self, claim: Claim, result: Alert, guards: tuple[Guard, ...], customer_id: str | None
    ) -> None:
        transactions.commit(self.client, self.table, claim, result, guards, (), customer_id)

    def _retry(self, *again: type[Exception]) -> Retry:
        """The rounds of a raise or a change (transactions.Retry): again after one of
        `again` or a transient failure, MAX_ATTEMPTS times at most."""
        return Retry(MAX_ATTEMPTS, self.sleep, again)

    # Last in the class: below this, `list` names the method.
    def list(
        self,
        status: AlertStatus = AlertStatus.OPEN,
        priority: AlertPriority | None = None,
        type: AlertType | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> AlertPage:
        """Alerts in one status (OPEN unless asked), newest first (the shards of
        StatusIndex, merged; priority and type filter them). The cursor is the last alert's
        place in that order."""
        filters = {"priority": priority, "type": type}
        wanted = {name: value.value for name, value in filters.items() if value is not None}
        before = None
        scope = f"alerts|{status.value}|{sorted(wanted.items())}"
        if cursor:
            before = decode_key(cursor, {"status", "statusSort"}, scope)["statusSort"]["S"]
        found, more = newest_across_shards(
            self.client,
            ShardedQuery(
                table=self.table,
                index=STATUS_INDEX,
                hash_key="statusKey",
                partitions=[alert_status_key(status, shard) for shard in range(INDEX_SHARDS)],
                sort_key="statusSort",
                filter=" AND ".join(f"#{name} = :{name}" for name in wanted) or None,
                names={f"#{name}": name for name in wanted},
                values={f":{name}": value for name, value in wanted.items()},
            ),
            limit,
            before,
        )
        alerts = [model_from_item(Alert, item) for item in found]
        if not (more and found):
            return alerts, None
        place = {"status": {"S": status.value}, "statusSort": found[-1]["statusSort"]}
        return alerts, encode_key(place, scope)
