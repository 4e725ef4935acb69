"""A customer's personal data (POPIA) through the real handlers: the document of everything
held about them, and the erasure, after which no read route shows their details, no message
goes to them, the booking system's updates keep nothing without consent, and the ledger's
figures, invariants, analytics and finance stay as they were."""

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_points import transactions
from crm_points.alert_store import AlertStore
from crm_points.alerts import AlertType, new_alert
from crm_points.analytics_store import AnalyticsStore
from crm_points.config import PointsConfig
from crm_points.ledger_service import PointsService
from crm_points.ledger_store import (
    AdminStore,
    CustomerRecords,
    EffectLog,
    LedgerStore,
    customer_pk,
    entry_item,
    reminder_item,
)
from crm_points.notification_templates import Notification
from crm_points.personal_data import (
    DEAD_LETTER_DAYS,
    QUEUE_DAYS,
    RETENTION,
    personal_values,
    scrub,
)
from crm_points.reconciliation import reconcile
from crm_points.records import Actor, CustomerProfile, LedgerEntry
from crm_points.runtime import runtime
from crm_points.stream_reactions import OutgoingEvent, Reactions, deliver
from crm_points.validation import business_day
from local.template import load_template
from tests.api import ROOT, LambdaContext, call, handler
from tests.conftest import request
from tests.iam import PolicyUse
from tests.integration.conftest import table_of_its_own

ADMIN = "ADMIN"
DAY = timedelta(days=1)
# The customer's details arrive before anything else happens to them.
PROFILE_TIME = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
SENDER = "points@example.org"


def letters(count: int = 8) -> str:
    """Letters only, new for each test: a name no other test's customer has."""
    return "".join(chr(ord("a") + int(digit, 16) % 26) for digit in uuid.uuid4().hex[:count])


@dataclass
class Person:
    customer_id: str
    email: str
    phone: str
    first_name: str
    last_name: str
    # The moment of the entry whose reason names them: its own, so that a query of every
    # customer's entries at that moment finds this one alone.
    at: datetime

    @property
    def values(self) -> list[str]:
        return [self.email, self.phone, self.first_name, self.last_name]

    def shown_in(self, body: Any) -> list[str]:
        """The customer's details that an answer shows, in any case."""
        text = json.dumps(body).lower()
        return [value for value in self.values if value.lower() in text]


def new_person() -> Person:
    tag = letters()
    offset = timedelta(milliseconds=int(uuid.uuid4().hex[:7], 16) % 86_400_000)
    return Person(
        customer_id=f"pd-{tag}",
        email=f"{tag}.mokoena@example.co.za",
        phone="+2782" + "".join(str(ord(c) % 10) for c in tag[:7]),
        first_name="Thandeka" + tag[:4],
        last_name="Mokoena" + tag[4:],
        at=datetime(2026, 2, 10, tzinfo=UTC) + offset,
    )


def customer_updated(person: Person, time: datetime, **detail: Any) -> dict[str, Any]:
    """The sample `Customer Updated` event, for this customer at this time."""
    event: dict[str, Any] = json.loads((ROOT / "events" / "customer_updated.json").read_text())
    event["id"] = str(uuid.uuid4())
    event["time"] = time.isoformat().replace("+00:00", "Z")
    event["detail"] = {
        "customerId": person.customer_id,
        "email": person.email,
        "phone": person.phone,
        "firstName": person.first_name,
        "lastName": person.last_name,
        "notifyEmail": True,
        "notifySms": True,
        **detail,
    }
    return event


def booking_completed(person: Person, time: datetime, **customer: Any) -> dict[str, Any]:
    """The sample `Booking Completed` event: a booking of this customer with their details."""
    event: dict[str, Any] = json.loads((ROOT / "events" / "booking_completed.json").read_text())
    event["id"] = str(uuid.uuid4())
    event["time"] = time.isoformat().replace("+00:00", "Z")
    event["detail"].update(
        bookingId=f"{person.customer_id}-{uuid.uuid4().hex[:6]}",
        customerId=person.customer_id,
        completedAt=event["time"],
        customer={
            "email": person.email,
            "phone": person.phone,
            "firstName": person.first_name,
            "lastName": person.last_name,
            **customer,
        },
    )
    return event


def deliver_event(function: str, event: dict[str, Any]) -> Any:
    return handler(function).lambda_handler(event, LambdaContext())


class Counted:
    """The analytics as the stream consumer sees them; counted elsewhere in these tests."""

    def count_all(self, entries: Any) -> int:
        return 0


class Outside:
    """The bus and the notifications queue, taking everything."""

    def __init__(self) -> None:
        self.queued: list[Notification] = []

    def put_events(self, events: Sequence[OutgoingEvent]) -> list[bool]:
        return [True] * len(events)

    def queue_notifications(self, found: Sequence[Notification]) -> list[bool]:
        self.queued.extend(found)
        return [True] * len(found)

    def page_ops(self, alert: Any, topic_arn: str | None = None) -> None:
        return None


class Sender:
    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, notification: Notification, sender: str) -> None:
        self.sent.append(notification)


def stream(dynamodb: Any, table: str, records: CustomerRecords) -> list[Notification]:
    """What the change stream does with the customer's entries and reminders (the real
    consumer, given their items as the stream would): the messages it queued."""
    outside = Outside()
    reactions = Reactions(
        analytics=Counted(),
        alerts=AlertStore(dynamodb, table),
        admin=AdminStore(dynamodb, table),
        effects=EffectLog(dynamodb, table),
        outside=outside,
        config=PointsConfig,
    )
    images = [entry_item(entry, PROFILE_TIME) for entry in records.entries]
    images += [reminder_item(reminder, PROFILE_TIME) for reminder in records.reminders]
    assert reactions.on_batch(images) is None
    return outside.queued


def send(dynamodb: Any, table: str, queued: list[Notification]) -> list[Notification]:
    """The notification sender, given the queued messages: those it sent."""
    sender = Sender()
    for notification in queued:
        deliver(
            notification,
            sender,
            EffectLog(dynamodb, table),
            AdminStore(dynamodb, table),
            SENDER,
            PROFILE_TIME,
        )
    return sender.sent


@dataclass
class Known:
    """A customer with every kind of record: a profile, entries (one whose reason names
    them), a reminder, alerts (one whose note names them) and messages sent."""

    person: Person
    named_entry: LedgerEntry
    noted_alert_id: str
    sent: list[Notification]


def make_known(service: PointsService, dynamodb: Any, table: str) -> Known:
    person = new_person()
    customer_id = person.customer_id
    deliver_event("customer_updated", customer_updated(person, PROFILE_TIME))
    service.award(
        request(now=person.at - DAY),
        customer_id=customer_id,
        amount=700,
        reason="Welcome to the programme",
        notify_customer=True,
        expiry_date=person.at + 20 * DAY,
    )
    named = service.award(
        request(now=person.at),
        customer_id=customer_id,
        amount=300,
        reason=f"Birthday bonus for {person.first_name} {person.last_name} ({person.email})",
    ).transactions[0]
    service.redeem(request(now=person.at + DAY), customer_id=customer_id, amount=50, reason="Spa")
    reminder = service.remind_expiring(customer_id=customer_id, now=person.at + 2 * DAY)
    assert reminder is not None
    alerts = AlertStore(dynamodb, table)
    alert, _ = alerts.raise_alert(
        new_alert(
            AlertType.LARGE_REDEMPTION,
            # Newer than any other test's alert, so it heads the list of every customer's.
            now=datetime(2060, 1, 1, tzinfo=UTC) + timedelta(seconds=int(uuid.uuid4().hex[:6], 16)),
            message="A redemption of 12,000 points",
            data={"points": 12_000, "calledBy": person.first_name},
            customer_id=customer_id,
        ),
        trigger_key=f"personal-data:{customer_id}",
    )
    noted = call(
        "POST",
        f"/api/crm/alerts/{alert.alert_id}/acknowledge",
        role="MANAGER",
        body={"note": f"Called {person.first_name} on {person.phone}"},
    )
    assert noted.status == 200, noted.body
    records = LedgerStore(dynamodb, table).customer_records(customer_id)
    sent = send(dynamodb, table, stream(dynamodb, table, records))
    return Known(person, named, alert.alert_id, sent)


@pytest.fixture
def known(lambda_env: Any, service: PointsService, dynamodb: Any, table_name: str) -> Known:
    return make_known(service, dynamodb, table_name)


def erase(customer_id: str, reason: str = "The customer asked", **options: Any) -> Any:
    return call(
        "POST",
        f"/api/crm/customers/{customer_id}/erase",
        role=options.pop("role", ADMIN),
        user=options.pop("user", "admin-1"),
        body={"reason": reason},
        **options,
    )


def document(customer_id: str) -> Any:
    return call("GET", f"/api/crm/customers/{customer_id}/personal-data", role=ADMIN)


# -- the document ----------------------------------------------------------------------------


def test_the_document_holds_everything_held_about_the_customer(lambda_env, known):
    person = known.person
    lambda_env.reset()
    answer = document(person.customer_id)
    assert answer.status == 200, answer.body
    # The partition, the alerts and the records of the messages: one request each.
    assert dict(lambda_env.calls) == {"Query": 2, "BatchGetItem": 1}
    body = answer.body
    assert body["profile"] == {
        "customerId": person.customer_id,
        "email": person.email,
        "phone": person.phone,
        "firstName": person.first_name,
        "lastName": person.last_name,
        "notifyEmail": True,
        "notifySms": True,
        "updatedAt": "2026-02-01T08:00:00.000Z",
        "erasedAt": None,
    }
    # Every entry, in order, as the history shows them.
    history = call(
        "GET",
        f"/api/crm/customers/{person.customer_id}/points/transactions",
        query={"limit": "100"},
    ).body["transactions"]
    assert body["transactions"] == list(reversed(history))
    assert [entry["sequence"] for entry in body["transactions"]] == [1, 2, 3]
    summary = call("GET", f"/api/crm/customers/{person.customer_id}/points").body
    figures = ("currentBalance", "lifetimeEarned", "lifetimeRedeemed", "lifetimeExpired")
    assert {name: body["account"][name] for name in figures} == {
        name: summary[name] for name in figures
    }
    assert body["account"]["expirationSchedule"] == summary["expirationSchedule"]
    assert [reminder["points"] for reminder in body["expiringReminders"]] == [650]
    alerts = {alert["alertId"]: alert for alert in body["alerts"]}
    assert alerts[known.noted_alert_id]["acknowledgeNote"] == (
        f"Called {person.first_name} on {person.phone}"
    )
    assert {alert["type"] for alert in body["alerts"]} == {"LARGE_REDEMPTION", "POINTS_EXPIRING"}
    # The welcome award (notifyCustomer) and the reminder, each by e-mail and SMS, queued
    # and sent; the other entries told the customer nothing.
    told = {
        (n["kind"], n["channel"], n["transactionId"] is not None, n["queued"], n["sent"])
        for n in body["notifications"]
    }
    assert told == {
        ("pointsAwarded", "email", True, True, True),
        ("pointsAwarded", "sms", True, True, True),
        ("pointsExpiring", "email", False, True, True),
        ("pointsExpiring", "sms", False, True, True),
    }
    assert {n["notificationId"] for n in body["notifications"]} == {
        n.notification_id for n in known.sent
    }
    assert body["erasures"] == []
    assert [note["data"] for note in body["retention"]] == [note.data for note in RETENTION]
    assert "30 days" in next(n["kept"] for n in body["retention"] if n["data"] == "notifications")


def test_an_unknown_customer_has_no_document_and_cannot_be_erased(lambda_env, customer_id):
    assert (document(customer_id).status, document(customer_id).code) == (404, "NOT_FOUND")
    assert (erase(customer_id).status, erase(customer_id).code) == (404, "NOT_FOUND")


@pytest.mark.parametrize(
    "body",
    [None, {}, {"reason": ""}, {"reason": "no"}, {"reason": "Asked", "other": 1}, {"reason": 7}],
)
def test_an_erasure_needs_a_reason(lambda_env, service, customer_id, body):
    service.award(request(), customer_id=customer_id, amount=10, reason="Points")
    path = f"/api/crm/customers/{customer_id}/erase"
    answer = call("POST", path, role=ADMIN, body=body)
    assert (answer.status, answer.code) == (422, "VALIDATION_ERROR"), answer.body
    assert call("POST", path, role=ADMIN, body={"reason": "Asked"}, key="").status == 422


def test_the_queues_keep_messages_as_the_document_says():
    resources = load_template()["Resources"]

    def days(queue: str) -> int:
        return int(resources[queue]["Properties"]["MessageRetentionPeriod"]) // 86_400

    assert (days("NotificationsQueue"), days("NotificationsDeadLetters")) == (
        QUEUE_DAYS,
        DEAD_LETTER_DAYS,
    )


# -- the erasure -----------------------------------------------------------------------------


def every_read(person: Person, alert_id: str, entry_id: str) -> dict[str, Any]:
    """The answer of every read route that can show something of this customer."""
    customer = f"/api/crm/customers/{person.customer_id}"
    moment = person.at.isoformat()
    around = {
        "from": (business_day(person.at) - timedelta(days=180)).isoformat(),
        "to": (business_day(person.at) + timedelta(days=180)).isoformat(),
    }
    reads = {
        "statement": (f"{customer}/points/statement", around),
        "explained": (f"/api/crm/points/transactions/{entry_id}", None),
        "customers by e-mail": ("/api/crm/customers", {"email": person.email}),
        "summary": (f"{customer}/points", None),
        "history": (f"{customer}/points/transactions", {"limit": "100"}),
        "query": ("/api/crm/points/transactions", {"customerId": person.customer_id}),
        "every customer's": (
            "/api/crm/points/transactions",
            {"dateFrom": moment, "dateTo": moment},
        ),
        "customer alerts": (f"{customer}/alerts", None),
        "acknowledged alerts": (
            "/api/crm/alerts",
            {"status": "ACKNOWLEDGED", "type": "LARGE_REDEMPTION", "limit": "100"},
        ),
        "personal data": (f"{customer}/personal-data", None),
    }
    answers = {}
    for name, (path, query) in reads.items():
        answer = call("GET", path, role=ADMIN, query=query)
        assert answer.status == 200, (name, answer.body)
        answers[name] = answer.body
    listed = [alert["alertId"] for alert in answers["acknowledged alerts"]["alerts"]]
    assert alert_id in listed, "the customer's alert is on the page read"
    assert [t["customerId"] for t in answers["every customer's"]["transactions"]] == [
        person.customer_id
    ]
    return answers


def test_after_an_erasure_no_read_route_shows_the_customer(lambda_env, known):
    person = known.person
    before = every_read(person, known.noted_alert_id, known.named_entry.transaction_id)
    assert person.shown_in(before["customers by e-mail"]) == person.values
    assert person.shown_in(before["every customer's"]) != []
    assert person.shown_in(before["acknowledged alerts"]) != []

    answer = erase(person.customer_id, reason=f"{person.first_name} asked by e-mail")
    assert answer.status == 200, answer.body
    assert answer.headers["Idempotent-Replayed"] == "false"
    erasure = answer.body
    assert erasure["customerId"] == person.customer_id
    assert erasure["erasedBy"] == {"userId": "admin-1", "role": "ADMIN"}
    assert erasure["reason"] == "[erased] asked by e-mail"
    assert erasure["removedFields"] == ["email", "phone", "firstName", "lastName"]
    assert erasure["rewrittenAlerts"] == [known.noted_alert_id]
    assert erasure["redactedTransactions"] == [known.named_entry.transaction_id]

    after = every_read(person, known.noted_alert_id, known.named_entry.transaction_id)
    for name, body in after.items():
        assert person.shown_in(body) == [], name
    assert after["customers by e-mail"] == {"customers": []}
    data = after["personal data"]
    assert data["profile"] == {
        "customerId": person.customer_id,
        "email": None,
        "phone": None,
        "firstName": None,
        "lastName": None,
        "notifyEmail": False,
        "notifySms": False,
        "updatedAt": erasure["erasedAt"],
        "erasedAt": erasure["erasedAt"],
    }
    assert data["erasures"] == [erasure]
    noted = next(a for a in data["alerts"] if a["alertId"] == known.noted_alert_id)
    assert noted["acknowledgeNote"] == "Called [erased] on [erased]"
    assert noted["data"] == {"points": 12_000, "calledBy": "[erased]"}
    assert noted["status"] == "ACKNOWLEDGED"
    named = data["transactions"][1]
    assert named["reason"] == "Birthday bonus for [erased] [erased] ([erased])"
    assert named["description"] == "Bonus points: Birthday bonus for [erased] [erased] ([erased])"
    # The ledger's amounts, dates and ids are as they were; only the text that named them
    # changed.
    text = {"reason", "description"}

    def figures(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in entry.items() if k not in text} for entry in entries]

    assert figures(data["transactions"]) == figures(before["personal data"]["transactions"])
    assert data["account"] == before["personal data"]["account"]
    assert data["notifications"] == before["personal data"]["notifications"]


def test_an_erasure_made_again_answers_the_same_and_writes_nothing(
    lambda_env, known, dynamodb, table_name
):
    person = known.person
    first = erase(person.customer_id, key="erase-once")
    assert first.status == 200, first.body

    def stored() -> Any:
        return dynamodb.query(
            TableName=table_name,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": customer_pk(person.customer_id)}},
            ConsistentRead=True,
        )["Items"]

    kept = stored()
    alerts_kept = document(person.customer_id).body["alerts"]
    lambda_env.reset()
    again = erase(person.customer_id, key="erase-once")
    assert (again.status, again.body) == (200, first.body)
    assert again.headers["Idempotent-Replayed"] == "true"
    # One read, and a transaction that its own idempotency record cancelled.
    assert dict(lambda_env.calls) == {"Query": 1, "TransactWriteItems": 1}
    assert stored() == kept
    assert document(person.customer_id).body["alerts"] == alerts_kept
    # Another admin, another key: the customer is erased already, and that erasure answers.
    other = erase(person.customer_id, reason="Asked twice", user="admin-2")
    assert (other.status, other.body) == (200, first.body)
    assert other.headers["Idempotent-Replayed"] == "false"
    assert stored() == kept
    # The key of the first erasure, for another reason: refused.
    reused = erase(person.customer_id, reason="Another reason", key="erase-once")
    assert (reused.status, reused.code) == (422, "IDEMPOTENCY_KEY_REUSED")


def test_rewrites_beyond_one_transaction_are_written_first(
    lambda_env, service, dynamodb, table_name, monkeypatch
):
    person = new_person()
    deliver_event("customer_updated", customer_updated(person, PROFILE_TIME))
    service.award(request(), customer_id=person.customer_id, amount=10, reason="Points")
    alerts = AlertStore(dynamodb, table_name)
    noted = []
    for number in range(4):
        alert, _ = alerts.raise_alert(
            new_alert(
                AlertType.NEGATIVE_BALANCE,
                now=PROFILE_TIME + number * DAY,
                message="The balance went below zero",
                data={},
                customer_id=person.customer_id,
            ),
            trigger_key=f"personal-data:{person.customer_id}:{number}",
        )
        alerts.resolve(
            alert.alert_id,
            Actor(user_id="manager-1", role="MANAGER"),
            PROFILE_TIME + number * DAY,
            f"Spoke to {person.last_name}",
            idempotency_key=f"resolve-{alert.alert_id}",
        )
        noted.append(alert.alert_id)
    # A transaction of six items: the record, the profile, the erasure and three rewrites;
    # the fourth goes first, alone.
    monkeypatch.setattr(transactions, "TRANSACTION_ITEMS", 6)
    lambda_env.reset()
    answer = erase(person.customer_id, key="erase-in-two")
    assert answer.status == 200, answer.body
    assert sorted(answer.body["rewrittenAlerts"]) == sorted(noted)
    assert lambda_env.calls["TransactWriteItems"] == 2
    assert lambda_env.calls["GetItem"] == 1  # the record, read before the first rewrite
    every = document(person.customer_id).body["alerts"]
    assert [alert["resolveNote"] for alert in every] == ["Spoke to [erased]"] * 4
    again = erase(person.customer_id, key="erase-in-two")
    assert (again.status, again.body) == (200, answer.body)


def test_a_customer_with_an_account_and_no_profile_is_erased_all_the_same(
    lambda_env, service, customer_id
):
    service.award(request(), customer_id=customer_id, amount=10, reason="Points")
    answer = erase(customer_id)
    assert answer.status == 200, answer.body
    assert (answer.body["removedFields"], answer.body["rewrittenAlerts"]) == ([], [])
    profile = document(customer_id).body["profile"]
    assert (profile["email"], profile["erasedAt"]) == (None, answer.body["erasedAt"])


def test_the_policies_allow_every_call_of_every_path(lambda_env, known, monkeypatch):
    use = PolicyUse()
    client = runtime().service.store.client
    client.meta.events.register("provide-client-params.dynamodb", use.record)
    customer_id = known.person.customer_id
    try:
        use.function = "customer_personal_data"
        assert document(customer_id).status == 200
        use.function = "customer_erase"
        # The rewrites (an alert, an entry) in two transactions, the record read first.
        limit = transactions.TRANSACTION_ITEMS
        monkeypatch.setattr(transactions, "TRANSACTION_ITEMS", 4)
        assert erase(customer_id).status == 200
        monkeypatch.setattr(transactions, "TRANSACTION_ITEMS", limit)
        assert erase(customer_id, reason="Asked again").status == 200  # erased already
        use.function = "test"
        later = later_than_the_erasure(customer_id, 1)
        use.function = "customer_updated"
        deliver_event("customer_updated", customer_updated(known.person, later))
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb", use.record)
    use.used.pop("test")  # the test's own read, between the functions'
    assert use.used["customer_erase"] >= {
        ("dynamodb:GetItem", "table"),
        ("dynamodb:Query", "index/AlertSubjectIndex"),
        ("dynamodb:UpdateItem", "table"),
        ("dynamodb:ConditionCheckItem", "table"),
    }
    assert use.not_granted() == {}


# -- after the erasure: the booking system's updates, the messages -------------------------


def later_than_the_erasure(customer_id: str, minutes: int) -> datetime:
    profile = document(customer_id).body["profile"]
    return datetime.fromisoformat(profile["updatedAt"]) + timedelta(minutes=minutes)


def test_an_update_keeps_nothing_personal_without_consent_and_everything_with_it(lambda_env, known):
    person = known.person
    assert erase(person.customer_id).status == 200
    found = {"email": person.email}

    deliver_event(
        "customer_updated", customer_updated(person, later_than_the_erasure(person.customer_id, 1))
    )
    deliver_event(
        "booking_completed",
        booking_completed(person, later_than_the_erasure(person.customer_id, 1)),
    )
    profile = document(person.customer_id).body["profile"]
    assert person.shown_in(profile) == []
    assert (profile["notifyEmail"], profile["notifySms"]) == (False, False)
    assert profile["erasedAt"] is not None
    assert call("GET", "/api/crm/customers", query=found).body == {"customers": []}
    # An update older than the erasure does nothing, consent or not.
    deliver_event(
        "customer_updated",
        customer_updated(person, PROFILE_TIME + DAY, personalDataConsent=True),
    )
    assert document(person.customer_id).body["profile"]["erasedAt"] is not None

    at = later_than_the_erasure(person.customer_id, 1)
    deliver_event(
        "customer_updated", customer_updated(person, at, personalDataConsent=True, notifySms=False)
    )
    profile = document(person.customer_id).body["profile"]
    assert profile == {
        "customerId": person.customer_id,
        "email": person.email,
        "phone": person.phone,
        "firstName": person.first_name,
        "lastName": person.last_name,
        "notifyEmail": True,
        "notifySms": False,
        "updatedAt": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "erasedAt": None,
    }
    customers = call("GET", "/api/crm/customers", query=found).body["customers"]
    assert [customer["customerId"] for customer in customers] == [person.customer_id]
    # The erasure stays on record.
    assert len(document(person.customer_id).body["erasures"]) == 1


def test_a_booking_with_consent_stores_the_details_and_leaves_the_messages_off(lambda_env, known):
    person = known.person
    assert erase(person.customer_id).status == 200
    at = later_than_the_erasure(person.customer_id, 1)
    deliver_event("booking_completed", booking_completed(person, at, personalDataConsent=True))
    profile = document(person.customer_id).body["profile"]
    assert (profile["email"], profile["erasedAt"]) == (person.email, None)
    assert (profile["notifyEmail"], profile["notifySms"]) == (False, False)


def test_nothing_is_sent_to_an_erased_customer(lambda_env, service, dynamodb, table_name):
    person = new_person()
    deliver_event("customer_updated", customer_updated(person, PROFILE_TIME))
    service.award(
        request(now=person.at),
        customer_id=person.customer_id,
        amount=100,
        reason="Survey",
        notify_customer=True,
    )
    store = LedgerStore(dynamodb, table_name)
    queued = stream(dynamodb, table_name, store.customer_records(person.customer_id))
    assert {n.to for n in queued} == {person.email, person.phone}
    # Erased while its messages wait in the queue: the sender does not send them.
    assert erase(person.customer_id).status == 200
    assert send(dynamodb, table_name, queued) == []
    # A later award that would tell the customer queues nothing.
    service.award(
        request(now=person.at + DAY),
        customer_id=person.customer_id,
        amount=100,
        reason="Survey",
        notify_customer=True,
    )
    records = store.customer_records(person.customer_id)
    assert stream(dynamodb, table_name, records) == []
    assert AdminStore(dynamodb, table_name).erased(person.customer_id)


# -- the ledger, its invariants, the analytics and finance: as they were -------------------


@pytest.fixture
def own_table(lambda_env: Any, dynamodb_endpoint: str, monkeypatch: Any) -> Iterator[str]:
    """The functions on a table of this test's own: the analytics aggregates are
    table-wide, and are compared with what this customer's entries add up to."""
    with table_of_its_own(dynamodb_endpoint, "erasure", stream=False) as name:
        monkeypatch.setenv("TABLE_NAME", name)
        runtime.cache_clear()
        yield name
        runtime.cache_clear()


def test_an_erasure_changes_no_figure_and_no_invariant(own_table, dynamodb, config):
    service = PointsService(LedgerStore(dynamodb, own_table), config, sleep=lambda _: None)
    person = new_person()
    deliver_event("customer_updated", customer_updated(person, PROFILE_TIME))
    customer_id = person.customer_id
    service.award(
        request(now=person.at),
        customer_id=customer_id,
        amount=900,
        reason=f"Goodwill for {person.first_name}",
        expiry_date=person.at + 3 * DAY,
    )
    service.award(request(now=person.at), customer_id=customer_id, amount=400, reason="Points")
    service.redeem(request(now=person.at + DAY), customer_id=customer_id, amount=150, reason="Spa")
    service.deduct(
        request(now=person.at + DAY),
        customer_id=customer_id,
        amount=20,
        reason=f"Corrected for {person.email}",
    )
    service.expire(customer_id=customer_id, now=person.at + 5 * DAY, request_id="run")
    analytics = AnalyticsStore(dynamodb, own_table)
    analytics.count_all(service.store.customer_records(customer_id).entries)
    month = person.at.strftime("%Y-%m")
    reads = [
        ("/api/crm/points/analytics", {"month": month}),
        ("/api/crm/points/finance/roll-forward", {"from": month, "to": month}),
        ("/api/crm/points/finance/cohorts", {"asOf": month}),
        (f"/api/crm/customers/{customer_id}/points", None),
    ]
    before = [call("GET", path, role=ADMIN, query=query).body for path, query in reads]

    answer = erase(customer_id)
    assert answer.status == 200, answer.body
    assert len(answer.body["redactedTransactions"]) == 2

    after = [call("GET", path, role=ADMIN, query=query).body for path, query in reads]
    assert after[:3] == before[:3]
    summary_before, summary_after = before[3], after[3]
    for summary in (summary_before, summary_after):
        summary.pop("recentTransactions")
    assert summary_after == summary_before
    report = reconcile(service.store, [customer_id], analytics=analytics)
    assert (report.accounts, report.differences) == (1, [])


# -- the rules -------------------------------------------------------------------------------


def test_a_detail_is_taken_out_as_a_whole_word_in_any_case():
    profile = CustomerProfile(
        customer_id="c-1",
        email="Ann.Lee@example.com",
        first_name="Ann",
        last_name="L",
        updated_at=PROFILE_TIME,
    )
    values = personal_values(profile)
    assert values == ["Ann.Lee@example.com", "Ann"]  # a one-letter name is not looked for
    text = "ann.lee@EXAMPLE.com wrote; Ann and ANN called, Annual review. L: kept"
    assert (
        scrub(text, values)
        == "[erased] wrote; [erased] and [erased] called, Annual review. L: kept"
    )
