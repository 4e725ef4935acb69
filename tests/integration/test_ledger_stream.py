"""The ledger's change stream as the outbox (SPEC §5, §7, §8): the real functions of
template.yaml, fed by DynamoDB Local's stream as Lambda's event source mapping would, with
moto standing in for SQS, SNS, SES and EventBridge.

Each test has its own table and stack; moto's messages are shared by the session, so each
test looks only at its own customers' addresses.
"""

import json
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import jsonschema  # type: ignore[import-untyped]
import pytest

from crm_points.analytics_store import AnalyticsStore
from crm_points.ledger_service import PointsService
from crm_points.ledger_store import AdminStore, LedgerStore
from crm_points.reconciliation import reconcile
from crm_points.records import Actor, CustomerProfile, iso_utc
from crm_points.runtime import runtime
from crm_points.stream_reactions import OutgoingEvent
from deploy.redrive import ReplayStream, replay_stream
from local.aws_services import AwsServices
from local.functions import environment_set
from local.lambda_events import eventbridge_event, reported_failures
from local.openapi import EVENT_SCHEMAS
from local.stack import LocalStack, build_stack
from local.streams import read_whole_stream
from local.template import create_table, load_template
from tests.conftest import START, request
from tests.iam import PolicyUse
from tests.invariants import check_ledger

DAY = timedelta(days=1)


@dataclass
class Stack:
    local: LocalStack
    service: PointsService
    admin: AdminStore
    services: AwsServices
    table: str
    events_queue: str
    policy_use: PolicyUse

    def drain(self) -> dict[str, Any]:
        result = self.local.event_sources.drain(timeout=120)
        assert result["caughtUp"], result
        return result

    def sent_to(self, *addresses: str) -> list[dict[str, Any]]:
        return [m for m in self.local.outbox.messages() if m["to"] in addresses]

    def events_out(self) -> list[dict[str, Any]]:
        """Every event the stack put on the points bus so far (read from a test rule's queue)."""
        sqs = self.services.client("sqs")
        found: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(
                QueueUrl=self.events_queue, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(
                    QueueUrl=self.events_queue, ReceiptHandle=message["ReceiptHandle"]
                )

    @staticmethod
    def phone(customer_id: str) -> str:
        return "+2782" + str(int(customer_id.encode().hex(), 16))[-7:]

    def profile(self, customer_id: str, **fields: Any) -> None:
        values = {
            "email": f"{customer_id}@example.com",
            "phone": self.phone(customer_id),
            "first_name": "Thandi",
            **fields,
        }
        self.admin.put_profile(CustomerProfile(customer_id=customer_id, updated_at=START, **values))

    def queue_messages(self, logical_id: str) -> list[dict[str, Any]]:
        sqs = self.services.client("sqs")
        url = self.local.resources.resolve({"Ref": logical_id})
        found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
        return [json.loads(message["Body"]) for message in found.get("Messages", [])]


@pytest.fixture
def stack(
    tmp_path: Path, dynamodb: Any, dynamodb_endpoint: str, aws_services: AwsServices, config: Any
) -> Iterator[Stack]:
    table = f"crm-points-stream-{uuid.uuid4().hex[:8]}"
    create_table(dynamodb, table)
    prefix = f"s{uuid.uuid4().hex[:6]}-"
    runtime.cache_clear()
    local = build_stack(
        load_template(),
        services=aws_services,
        dynamodb_endpoint=dynamodb_endpoint,
        table_name=table,
        state_dir=tmp_path,
        prefix=prefix,
    )
    # A rule of the test's own on the points bus, so the events out can be read.
    bus = local.resources.bus_name({"Ref": "PointsBus"})
    sqs, events = aws_services.client("sqs"), aws_services.client("events")
    queue = sqs.create_queue(QueueName=f"{prefix}events-out")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    events.put_rule(
        Name=f"{prefix}events-out",
        EventBusName=bus,
        EventPattern=json.dumps({"source": ["crm.points"]}),
    )
    events.put_targets(
        Rule=f"{prefix}events-out",
        EventBusName=bus,
        Targets=[{"Id": "test", "Arn": queue_arn["Attributes"]["QueueArn"]}],
    )
    # Which DynamoDB actions each function uses: its clients are made after this.
    use = PolicyUse()
    session_events = boto3.DEFAULT_SESSION.events if boto3.DEFAULT_SESSION else None
    if session_events is None:
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        session_events = boto3.DEFAULT_SESSION.events
    session_events.register("provide-client-params.dynamodb", use.record)
    invoke = local.runner.invoke

    def invoke_recorded(function: Any, event: Any, *args: Any, **kwargs: Any) -> Any:
        use.function = function.code_dir.name
        try:
            return invoke(function, event, *args, **kwargs)
        finally:
            use.function = "test"

    local.runner.invoke = invoke_recorded  # type: ignore[method-assign]
    ledger = PointsService(LedgerStore(dynamodb, table), config, sleep=lambda _: None)
    yield Stack(local, ledger, AdminStore(dynamodb, table), aws_services, table, queue, use)
    session_events.unregister("provide-client-params.dynamodb", use.record)
    local.event_sources.stop()
    runtime.cache_clear()


def test_an_award_with_notify_customer_tells_the_customer_once(stack: Stack, customer_id: str):
    stack.profile(customer_id)
    stack.service.award(
        request(),
        customer_id=customer_id,
        amount=2_500,
        reason="Loyalty anniversary",
        notify_customer=True,
        expiry_date=START + 30 * DAY,
    )
    stack.service.award(request(), customer_id=customer_id, amount=100, reason="Quiet bonus")
    stack.drain()
    sent = stack.sent_to(f"{customer_id}@example.com")
    assert [(m["channel"], m["subject"]) for m in sent] == [
        ("email", "🎉 2,500 bonus points awarded! Reason: Loyalty anniversary")
    ]
    assert sent[0]["body"].startswith(
        "🎉 2,500 bonus points awarded! Reason: Loyalty anniversary\n\nHi Thandi,"
    )
    texts = [m["body"] for m in stack.sent_to(stack.phone(customer_id))]
    assert texts == ["Bonus: +2,500 pts! Total: 2,500 pts. Expires: 14 Feb 2026"]
    kinds = [(e["detail-type"], e["detail"]["points"]) for e in stack.events_out()]
    assert kinds == [("Points Awarded", 2_500), ("Points Awarded", 100)]


def test_a_customer_who_opted_out_gets_nothing_on_that_channel(stack: Stack, customer_id: str):
    stack.profile(customer_id, notify_sms=False)
    stack.service.award(
        request(), customer_id=customer_id, amount=50, reason="Survey", notify_customer=True
    )
    stack.drain()
    assert [m["channel"] for m in stack.sent_to(f"{customer_id}@example.com")] == ["email"]


def test_the_daily_runs_remind_then_expire_and_tell_the_customer(stack: Stack, customer_id: str):
    stack.profile(customer_id)
    stack.service.award(
        request(),
        customer_id=customer_id,
        amount=1_200,
        reason="Promo",
        expiry_date=START + 20 * DAY,
    )
    runs = stack.local.scheduler
    runs.run("expiring-reminders", START + DAY)
    stack.drain()
    reminded = stack.sent_to(f"{customer_id}@example.com")
    assert [m["subject"] for m in reminded] == ["⏰ 1,200 points expire in 19 days. Use them now!"]
    runs.run("expire-points", START + 21 * DAY)
    stack.drain()
    subjects = [m["subject"] for m in stack.sent_to(f"{customer_id}@example.com")]
    assert subjects[-1] == "❌ 1,200 points expired. Book a service to reactivate."
    kinds = [e["detail-type"] for e in stack.events_out()]
    assert kinds == ["Points Awarded", "Points Expiring", "Alert Raised", "Points Expired"]


def test_a_negative_balance_raises_the_alert_and_tells_the_ops_topic(
    stack: Stack, customer_id: str
):
    sns, sqs = stack.services.client("sns"), stack.services.client("sqs")
    topic = stack.local.resources.resolve({"Ref": "OpsTopic"})
    queue = sqs.create_queue(QueueName=f"ops-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
    stack.service.complete_booking(
        request(),
        customer_id=customer_id,
        booking_id=f"{customer_id}-b",
        completed_at=START,
        amount_cents=100_000,
    )
    stack.service.redeem(request(), customer_id=customer_id, amount=900, reason="Checkout")
    stack.service.reverse_booking(
        request(), customer_id=customer_id, booking_id=f"{customer_id}-b", reason="Refunded"
    )
    stack.drain()
    pages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    alerts = [json.loads(json.loads(page["Body"])["Message"]) for page in pages]
    assert [(a["type"], a["customerId"], a["priority"]) for a in alerts] == [
        ("NEGATIVE_BALANCE", customer_id, "HIGH")
    ]
    raised = [e for e in stack.events_out() if e["detail-type"] == "Alert Raised"]
    assert [e["detail"]["type"] for e in raised] == ["NEGATIVE_BALANCE"]


def test_a_partial_refund_of_spent_points_goes_below_zero_with_its_alert(
    stack: Stack, customer_id: str
):
    """Through the points bus as the booking system sends it: the refund's share of the
    earn is taken back although the points were spent (SPEC §2.8), and the alert follows."""
    bus, points_bus = stack.local.bus, stack.local.resources.bus_name({"Ref": "PointsBus"})

    def publish(kind: str, when: datetime, **detail: Any) -> None:
        event = eventbridge_event(
            "bookings", kind, {"customerId": customer_id, **detail}, "af-south-1", time=when
        )
        assert all(d.invocation.succeeded for d in bus.deliver(points_bus, event))

    booking = f"{customer_id}-b"
    publish(
        "Booking Completed",
        START,
        bookingId=booking,
        completedAt=iso_utc(START),
        amountCents=100_000,
        currency="ZAR",
    )
    stack.service.redeem(request(), customer_id=customer_id, amount=1_000, reason="Checkout")
    publish(
        "Booking Refunded",
        START + DAY,
        bookingId=booking,
        refundId="r-1",
        refundedAmountCents=40_000,
        refundedAt=iso_utc(START + DAY),
        reason="Partly refunded",
    )
    stack.drain()
    entries = check_ledger(stack.service.store, customer_id)
    assert [(e.type.value, e.points, e.balance_after) for e in entries] == [
        ("EARN", 1_000, 1_000),
        ("REDEEM", -1_000, 0),
        ("REVERSAL", -400, -400),
    ]
    assert entries[-1].created_at == START + DAY
    raised = [e for e in stack.events_out() if e["detail-type"] == "Alert Raised"]
    assert [(e["detail"]["type"], e["detail"]["customerId"]) for e in raised] == [
        ("NEGATIVE_BALANCE", customer_id)
    ]


def test_records_delivered_again_and_out_of_order_cause_everything_once(
    stack: Stack, customer_id: str
):
    """The same stream records, given to the stream function again, reversed and twice:
    the notification, the events and the analytics count each entry once."""
    stack.profile(customer_id)
    stack.service.award(
        request(), customer_id=customer_id, amount=700, reason="Welcome", notify_customer=True
    )
    stack.service.redeem(request(), customer_id=customer_id, amount=200, reason="Voucher")
    stack.drain()
    first_events = stack.events_out()
    first_sent = stack.sent_to(f"{customer_id}@example.com")
    records = stream_records(stack)
    assert len(records) == 2
    function = stack.local.functions["LedgerStreamFunction"]
    for batch in (list(reversed(records)), records, records):
        invocation = stack.local.runner.invoke(function, {"Records": batch})
        assert invocation.result == {"batchItemFailures": []}
    stack.drain()
    assert [e["detail-type"] for e in first_events] == ["Points Awarded", "Points Redeemed"]
    assert stack.events_out() == []
    assert stack.sent_to(f"{customer_id}@example.com") == first_sent


def stream_records(stack: Stack) -> list[dict[str, Any]]:
    """The ledger entries' records of the test table's stream, in Lambda's shape."""
    endpoint = stack.admin.client.meta.endpoint_url
    records = read_whole_stream(endpoint, stack.table)
    return [r for r in records if r["dynamodb"].get("NewImage", {}).get("entity") == {"S": "ENTRY"}]


def test_when_ses_and_sns_refuse_notifications_are_retried_then_dead_lettered(
    stack: Stack, customer_id: str
):
    """The sender is not a verified SES identity, the phone number is not E.164: each
    notification fails, is retried by its queue, then dead-lettered; the ledger keeps the
    award."""
    stack.profile(customer_id, phone="082 123 4567")
    admin = request(actor=Actor(user_id="root", role="ADMIN"))
    stack.service.update_config(admin, {"senderEmail": "points@unverified.example.net"})
    stack.service.award(
        request(), customer_id=customer_id, amount=300, reason="Apology", notify_customer=True
    )
    stack.drain()
    assert stack.sent_to(f"{customer_id}@example.com", "082 123 4567") == []
    dead = stack.queue_messages("NotificationsDeadLetters")
    assert sorted((n["channel"], n["to"]) for n in dead if n["customerId"] == customer_id) == [
        ("email", f"{customer_id}@example.com"),
        ("sms", "082 123 4567"),
    ]
    account = stack.service.account(customer_id)
    assert (account.current_balance, account.entry_count) == (300, 1)
    assert [e["detail-type"] for e in stack.events_out()] == ["Points Awarded"]


def test_a_refused_notification_is_redriven_and_sent_once(stack: Stack, customer_id: str):
    stack.profile(customer_id)
    admin = request(actor=Actor(user_id="root", role="ADMIN"))
    stack.service.update_config(admin, {"senderEmail": "points@unverified.example.net"})
    stack.service.award(
        request(), customer_id=customer_id, amount=300, reason="Apology", notify_customer=True
    )
    stack.drain()
    assert stack.sent_to(f"{customer_id}@example.com") == []
    fix = request(actor=Actor(user_id="root", role="ADMIN"))
    stack.service.update_config(fix, {"senderEmail": "points@example.com"})
    runtime.cache_clear()  # the functions read the configuration once a minute
    shown = stack.local.endpoints.redrive("NotificationsDeadLetters", dry_run=True)
    assert shown.done  # the e-mail (other tests' refused notifications may be there too)
    assert stack.sent_to(f"{customer_id}@example.com") == []
    stack.local.endpoints.redrive("NotificationsDeadLetters")
    stack.drain()
    assert len(stack.sent_to(f"{customer_id}@example.com")) == 1
    again = stack.local.endpoints.redrive("NotificationsDeadLetters")
    stack.drain()
    assert again.done == []
    assert len(stack.sent_to(f"{customer_id}@example.com")) == 1


def test_a_booking_event_that_failed_three_times_is_redriven_and_earns_once(
    stack: Stack, customer_id: str
):
    points_bus = stack.local.resources.bus_name({"Ref": "PointsBus"})
    completed = eventbridge_event(
        "bookings",
        "Booking Completed",
        {
            "bookingId": f"{customer_id}-B1",
            "customerId": customer_id,
            "completedAt": "2026-01-15T09:00:00Z",
            "amountCents": 185_000,
            "currency": "ZAR",
            "pointsRedeemed": 2_000,  # more than the booking earns: refused whole
        },
        "af-south-1",
        time=START,
    )
    [delivery] = stack.local.bus.deliver(points_bus, completed)
    assert (delivery.invocation.succeeded, delivery.attempts) == (False, 3)
    stack.service.award(request(), customer_id=customer_id, amount=200, reason="The fix")
    outcome = stack.local.endpoints.redrive("BookingEventsDeadLetters")
    assert outcome.refused == []
    assert stack.local.endpoints.redrive("BookingEventsDeadLetters").done == []
    account = stack.service.account(customer_id)
    assert (account.lifetime_earned, account.lifetime_redeemed) == (200 + 1_850, 2_000)


def told_of_the_award_and_the_redemption_once(stack: Stack, customer_id: str) -> None:
    """An award of 900 with notifyCustomer, then a redemption of 400: each event out once,
    and the award's e-mail once."""
    events = stack.events_out()
    assert [(e["detail-type"], e["detail"]["points"]) for e in events] == [
        ("Points Awarded", 900),
        ("Points Redeemed", -400),
    ]
    assert [m["channel"] for m in stack.sent_to(f"{customer_id}@example.com")] == ["email"]


def test_a_dead_lettered_stream_batch_is_replayed_from_the_ledger_once(
    stack: Stack, customer_id: str, monkeypatch: pytest.MonkeyPatch
):
    """Every delivery of a batch fails, so the stream moves past it to StreamDeadLetters,
    which holds only where and when. Its effects are lost (the analytics are short by what
    it held, and the reconciliation says so) until the redrive reads the window's entries
    from the table and gives them to the stream function again: then everything is done
    once, and a replay of the same window again does nothing."""
    stack.profile(customer_id)
    function = stack.local.functions["LedgerStreamFunction"]
    stack.local.runner.module(function)
    with environment_set(stack.local.runner.environment_of(function)):
        counter = runtime().reactions.analytics

    def unavailable(entries: Any) -> int:
        raise RuntimeError("the analytics are unavailable")

    monkeypatch.setattr(counter, "count_all", unavailable)
    stack.service.award(
        request(), customer_id=customer_id, amount=900, reason="Welcome", notify_customer=True
    )
    stack.service.redeem(request(), customer_id=customer_id, amount=400, reason="Voucher")
    stack.drain()
    # Split until each record failed alone (BisectBatchOnFunctionError), then dead-lettered.
    dead = stack.local.event_sources.stream_of("LedgerStreamFunction").dead_letters
    assert sum(d["DDBStreamBatchInfo"]["batchSize"] for d in dead) == 2
    assert stack.events_out() == []
    assert stack.sent_to(f"{customer_id}@example.com") == []
    analytics = AnalyticsStore(stack.admin.client, stack.table)
    ledger = stack.service.store
    drifted = reconcile(ledger, [customer_id], analytics).differences
    assert {(d.field, d.stored, d.recomputed) for d in drifted} >= {
        ("2026-01.points_awarded", 0, 900),
        ("2026-01.points_redeemed", 0, 400),
        ("2026-01.liability_change", 0, 500),
    }

    monkeypatch.undo()  # the cause is fixed
    shown = stack.local.endpoints.redrive("StreamDeadLetters", dry_run=True)
    windows = [window for window in shown.done if isinstance(window, ReplayStream)]
    assert len(windows) == len(shown.done) == len(dead)
    assert stack.events_out() == []
    outcome = stack.local.endpoints.redrive("StreamDeadLetters")
    # The windows overlap (each with its margin): both entries are given twice, done once.
    assert (sorted(outcome.done, key=str), outcome.refused) == (sorted(windows, key=str), [])
    stack.drain()
    told_of_the_award_and_the_redemption_once(stack, customer_id)
    assert reconcile(ledger, [customer_id], analytics).differences == []

    assert stack.local.endpoints.redrive("StreamDeadLetters").done == []  # the queue is empty
    stream = stack.local.event_sources.stream_of("LedgerStreamFunction")
    replayed = replay_stream(windows[0], ledger.written_between, stream.invoke)
    assert replayed == 2
    stack.drain()
    assert stack.events_out() == []
    assert len(stack.sent_to(f"{customer_id}@example.com")) == 1
    assert reconcile(ledger, [customer_id], analytics).differences == []


def test_a_year_of_time_travel_keeps_every_invariant(stack: Stack, customer_id: str):
    """Award; remind 30 days ahead; expire; a booking reinstates the expired points; a later
    expiry recovered by hand; a booking whose points were spent is cancelled (negative
    balance). Through the real schedules, events and stream functions."""
    runs, bus = stack.local.scheduler, stack.local.bus
    points_bus = stack.local.resources.bus_name({"Ref": "PointsBus"})

    def publish(kind: str, when: datetime, **detail: Any) -> None:
        event = eventbridge_event(
            "bookings",
            kind,
            {"customerId": customer_id, **detail},
            "af-south-1",
            time=when,
        )
        assert all(d.invocation.succeeded for d in bus.deliver(points_bus, event))

    publish(
        "Customer Updated",
        START,
        email=f"{customer_id}@example.com",
        phone=stack.phone(customer_id),
        firstName="Thandi",
    )
    stack.service.award(
        request(),
        customer_id=customer_id,
        amount=2_000,
        reason="Welcome",
        expiry_date=START + 40 * DAY,
    )
    runs.run("expiring-reminders", START + 12 * DAY)  # the lot enters the 30-day window
    runs.run("expire-points", START + 41 * DAY)
    publish(
        "Booking Completed",
        START + 50 * DAY,
        bookingId=f"{customer_id}-1",
        completedAt=iso_utc(START + 50 * DAY),
        amountCents=50_000,
        currency="ZAR",
    )
    after_booking = stack.service.account(customer_id)
    assert after_booking.current_balance == 2_000 + 500  # reinstated, plus the booking's earn
    stack.service.redeem(
        request(now=START + 60 * DAY), customer_id=customer_id, amount=2_400, reason="Spa day"
    )
    publish("Booking Cancelled", START + 70 * DAY, bookingId=f"{customer_id}-1", reason="Refunded")
    stack.service.award(
        request(now=START + 80 * DAY),
        customer_id=customer_id,
        amount=800,
        reason="Goodwill",
        expiry_date=START + 90 * DAY,
    )
    runs.run("expire-points", START + 91 * DAY)
    expired = stack.service.account(customer_id).unrecovered_expiries[-1]
    stack.service.recover_expired(
        request(now=START + 92 * DAY, actor=Actor(user_id="root", role="ADMIN")),
        transaction_id=expired.transaction_id,
        reason="Customer was in hospital",
        new_expiry_date=START + 200 * DAY,
    )
    runs.run("system-alerts", START + 100 * DAY)
    stack.drain()
    entries = check_ledger(stack.service.store, customer_id)
    assert [e.type.value for e in entries] == [
        "AWARD",
        "EXPIRE",
        "RECOVER",
        "EARN",
        "REDEEM",
        "REVERSAL",
        "AWARD",
        "EXPIRE",
        "RECOVER",
    ]
    events = stack.events_out()
    # The stream orders one customer's entries; alerts come when the stream reaches their
    # cause, so the order across kinds is not part of the contract.
    assert Counter(e["detail-type"] for e in events) == {
        "Points Awarded": 3,
        "Points Expiring": 1,
        "Points Expired": 2,
        "Points Recovered": 2,
        "Points Redeemed": 1,
        "Alert Raised": 2,
    }
    # Every event out is as docs/events/ publishes it.
    for event in events:
        name = event["detail-type"].lower().replace(" ", "-")
        schema = json.loads((EVENT_SCHEMAS / f"{name}.schema.json").read_text())
        jsonschema.validate(event["detail"], schema)
        assert event["source"] == "crm.points"
    raised = {e["detail"]["type"] for e in events if e["detail-type"] == "Alert Raised"}
    assert raised == {"POINTS_EXPIRING", "NEGATIVE_BALANCE"}
    # Each function called DynamoDB only as its IAM policy in template.yaml allows.
    assert {"ledger_stream", "send_notifications", "expire_points", "system_alerts"} <= set(
        stack.policy_use.used
    )
    for caller in ("", "test"):
        stack.policy_use.used.pop(caller, None)
    assert stack.policy_use.not_granted() == {}
    subjects = [m["subject"] for m in stack.sent_to(f"{customer_id}@example.com")]
    assert subjects == [
        "⏰ 2,000 points expire in 28 days. Use them now!",
        "❌ 2,000 points expired. Book a service to reactivate.",
        "❌ 400 points expired. Book a service to reactivate.",
    ]


def test_a_batch_that_failed_half_way_is_redelivered_and_causes_everything_once(
    stack: Stack, customer_id: str, monkeypatch: pytest.MonkeyPatch
):
    """The bus refuses the second entry's event: that record is reported failed (partial
    batch response) after the first record's effects were done; the redelivery from it
    completes the rest, and nothing is done twice."""
    stack.profile(customer_id)
    stack.service.award(
        request(), customer_id=customer_id, amount=900, reason="Welcome", notify_customer=True
    )
    stack.service.redeem(request(), customer_id=customer_id, amount=400, reason="Voucher")
    records = stream_records(stack)
    function = stack.local.functions["LedgerStreamFunction"]
    stack.local.runner.module(function)  # its cold start, outside the failure
    with environment_set(stack.local.runner.environment_of(function)):
        outside = runtime().reactions.outside
    put_events = outside.put_events

    def refuse_the_second(events: Sequence[OutgoingEvent]) -> list[bool]:
        taken = put_events([events[0]])
        return taken + [False] * (len(events) - 1)

    monkeypatch.setattr(outside, "put_events", refuse_the_second)
    first = stack.local.runner.invoke(function, {"Records": records})
    numbers = [record["dynamodb"]["SequenceNumber"] for record in records]
    failed = reported_failures(first.result, numbers)
    assert failed == [records[1]["dynamodb"]["SequenceNumber"]]
    again = stack.local.runner.invoke(function, {"Records": records[1:]})
    assert again.result == {"batchItemFailures": []}
    stack.drain()
    told_of_the_award_and_the_redemption_once(stack, customer_id)
    month = AnalyticsStore(stack.admin.client, stack.table).analytics("2026-01", START)
    assert month.points_liability.total_outstanding == 500
    assert month.points_liability.redemption_cost == 400


def test_a_batch_of_a_hundred_entries_costs_few_dynamodb_requests(stack: Stack):
    """The stream consumer's requests are per batch: counting, done-marks and profiles are
    read and written in bulk, so a batch of 100 entries costs far under 1.5 a record."""
    customers = [f"batch-{uuid.uuid4().hex[:10]}" for _ in range(100)]
    for number, customer in enumerate(customers):
        if number % 4 == 0:
            stack.profile(customer)
        stack.service.award(
            request(),
            customer_id=customer,
            amount=100 + number,
            reason="Welcome",
            notify_customer=number % 4 == 0,
        )
    records = stream_records(stack)
    assert len(records) == 100
    function = stack.local.functions["LedgerStreamFunction"]
    stack.local.runner.module(function)
    with environment_set(stack.local.runner.environment_of(function)):
        client = runtime().service.store.client
        assert runtime().service.config is not None  # read once a minute, not per batch
    calls: Counter[str] = Counter()
    client.meta.events.register(
        "before-call.dynamodb", lambda model, **_: calls.update([model.name])
    )
    invocation = stack.local.runner.invoke(function, {"Records": records})
    assert invocation.result == {"batchItemFailures": []}
    assert sum(calls.values()) <= 150, calls
    # Two counting transactions (90 entries each at most), one read of what was done, one of
    # the profiles, four writes of done-marks (25 a request).
    assert calls == Counter({"TransactWriteItems": 2, "BatchGetItem": 2, "BatchWriteItem": 4}), (
        calls
    )
    stack.drain()
    assert len(stack.events_out()) == 100
    month = AnalyticsStore(stack.admin.client, stack.table).analytics("2026-01", START)
    assert month.points_flow.awarded == sum(100 + number for number in range(100))
