"""What the stack lets its operators see (docs/operations.md, "Seeing it run"): the alarms,
their topic and the dashboard, read from template.yaml; and the metrics (EMF lines) and logs
the real handlers print, for a success and for each kind of failure."""

import json
import re
from types import SimpleNamespace
from typing import Any

import pytest

from crm_points import metrics
from crm_points.bulk import RowStatus
from crm_points.logs import logger
from crm_points.runtime import runtime
from crm_points.transactions import WriteConflict
from local.dynamodb_local import REGION
from local.lambda_events import dynamodb_stream_record, sqs_record
from local.template import ROOT, load_template
from tests.api import LambdaContext, call, handler
from tests.conftest import request
from tests.integration import test_ledger_stream
from tests.integration.test_ledger_stream import Stack

# The change stream's stack of test_ledger_stream (its own table, with a stream).
ledger_stack = test_ledger_stream.stack
# Where the records of the handlers fed by hand come from.
QUEUE_ARN = "arn:aws:sqs:af-south-1:123456789012:queue"
STREAM_ARN = (
    "arn:aws:dynamodb:af-south-1:123456789012:table/crm-points/stream/2026-01-15T09:00:00.000"
)

# -- the template ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return of_type(template, "AWS::CloudWatch::Alarm")


def dimensions(alarm: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}


def watching(
    template: dict[str, Any], namespace: str, metric: str, **dims: Any
) -> list[dict[str, Any]]:
    """The alarms on this metric with (at least) these dimensions, alone or in their math."""
    found = []
    for alarm in alarms(template).values():
        stats = [alarm] + [
            q["MetricStat"]["Metric"] for q in alarm.get("Metrics", []) if "MetricStat" in q
        ]
        for stat in stats:
            same = stat.get("Namespace") == namespace and stat.get("MetricName") == metric
            if same and all(dimensions(stat).get(k) == v for k, v in dims.items()):
                found.append(alarm)
                break
    return found


def test_every_alarm_says_what_to_do_and_notifies_the_alarm_topic(template):
    found = alarms(template)
    assert len(found) >= 40
    for name, alarm in found.items():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert "Threshold" in alarm, name
        assert "docs/operations.md" in alarm["AlarmDescription"], name
        assert alarm["TreatMissingData"] in {"notBreaching", "breaching"}, name


def test_cloudwatch_can_publish_to_the_alarm_topic(template):
    """Not the AWS managed key (alias/aws/sns), whose policy shuts CloudWatch out: a key of
    its own that lets this account's alarms use it."""
    topic = template["Resources"]["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmKey"}
    key = template["Resources"]["AlarmKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    statements = key["KeyPolicy"]["Statement"]
    cloudwatch = [
        s for s in statements if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(cloudwatch) == 1
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(cloudwatch[0]["Action"])
    assert cloudwatch[0]["Condition"]["StringEquals"]["aws:SourceAccount"] == {
        "Ref": "AWS::AccountId"
    }


def test_every_dead_letter_queue_holding_a_message_alarms(template):
    queues = [name for name in of_type(template, "AWS::SQS::Queue") if "DeadLetters" in name]
    assert "BookingRulesDeadLetters" in queues
    assert len(queues) == 7
    for queue in queues:
        (alarm,) = watching(
            template,
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            QueueName={"Fn::GetAtt": f"{queue}.QueueName"},
        )
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_the_stream_the_api_and_the_asynchronous_functions_alarm(template):
    (age,) = watching(
        template, "AWS/Lambda", "IteratorAge", FunctionName={"Ref": "LedgerStreamFunction"}
    )
    assert (age["Statistic"], age["Threshold"]) == ("Maximum", 300_000)
    api = {"ApiId": {"Ref": "CrmApi"}}
    (five_xx,) = watching(template, "AWS/ApiGateway", "5xx", **api)
    assert five_xx["Threshold"] == 5
    (latency,) = watching(template, "AWS/ApiGateway", "Latency", **api)
    assert (latency["ExtendedStatistic"], latency["Threshold"]) == ("p99", 3000)
    (faults,) = watching(template, "CrmPoints", metrics.API_FAULTS, service="crm-points")
    assert (faults["Threshold"], faults["ComparisonOperator"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
    )
    functions = of_type(template, "AWS::Serverless::Function")
    not_api = [
        name
        for name, function in functions.items()
        if not any(e["Type"] == "HttpApi" for e in function.get("Events", {}).values())
    ]
    assert len(not_api) == 12
    for function in not_api:
        for metric in ("Errors", "Throttles"):
            assert watching(template, "AWS/Lambda", metric, FunctionName={"Ref": function}), (
                function,
                metric,
            )


def test_dynamodb_throttles_of_the_table_and_every_index_alarm(template):
    table = {"TableName": {"Ref": "PointsTable"}}
    indexes = [
        index["IndexName"]
        for index in template["Resources"]["PointsTable"]["Properties"]["GlobalSecondaryIndexes"]
    ]
    assert watching(template, "AWS/DynamoDB", "ReadThrottleEvents", **table)
    for index in indexes:
        for metric in ("ReadThrottleEvents", "WriteThrottleEvents"):
            assert watching(
                template, "AWS/DynamoDB", metric, **table, GlobalSecondaryIndexName=index
            ), (index, metric)
    for metric in ("ThrottledRequests", "SystemErrors"):
        (alarm,) = watching(
            template, "AWS/DynamoDB", metric, **table, Operation="TransactWriteItems"
        )
        assert alarm["Metrics"][0]["ReturnData"] is True
        assert len(alarm["Metrics"]) <= 10


def test_the_scheduler_and_the_bus_rules_alarm(template):
    group = {"ScheduleGroup": {"Ref": "PointsSchedules"}}
    assert watching(template, "AWS/Scheduler", "TargetErrorCount", **group)
    assert watching(template, "AWS/Scheduler", "InvocationDroppedCount", **group)
    rules = [
        f"{name}Event"
        for name, function in of_type(template, "AWS::Serverless::Function").items()
        if any(e["Type"] == "EventBridgeRule" for e in function.get("Events", {}).values())
    ]
    assert len(rules) == 4
    for rule in rules:
        (alarm,) = watching(
            template,
            "AWS/Events",
            "FailedInvocations",
            EventBusName={"Ref": "PointsBus"},
            RuleName={"Fn::Select": [2, {"Fn::Split": ["/", {"Fn::GetAtt": f"{rule}.Arn"}]}]},
        )
        assert alarm["Threshold"] == 0


def test_a_daily_run_that_did_not_finish_in_26_hours_alarms(template):
    """26 hourly periods, all of them below one completion (an hour without data counts as
    below): one finished run within any 26 hours keeps the alarm quiet."""
    schedules = [
        event["Properties"]["Name"]
        for function in of_type(template, "AWS::Serverless::Function").values()
        for event in function.get("Events", {}).values()
        if event["Type"] == "ScheduleV2"
    ]
    assert sorted(schedules) == [
        "expire-points",
        "expiring-reminders",
        "reconcile-ledger",
        "system-alerts",
    ]
    for schedule in schedules:
        (alarm,) = watching(
            template,
            "CrmPoints",
            metrics.DAILY_RUN_COMPLETED,
            service="crm-points",
            schedule=schedule,
        )
        assert alarm["Statistic"] == "Sum"
        assert alarm["Period"] * alarm["EvaluationPeriods"] == 26 * 3600
        assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"]
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "LessThanThreshold")
        assert alarm["TreatMissingData"] == "breaching"
        # CloudWatch allows at most 7 days of evaluation for periods of an hour or more.
        assert alarm["Period"] * alarm["EvaluationPeriods"] <= 7 * 86_400


def test_reconciliation_drift_above_zero_alarms(template):
    (alarm,) = watching(template, "CrmPoints", metrics.RECONCILIATION_DRIFT, service="crm-points")
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_the_alarms_on_our_own_metrics_name_metrics_the_code_emits(template):
    emitted = {
        value for name, value in vars(metrics).items() if name.isupper() and isinstance(value, str)
    } | set(metrics.MOVEMENTS.values())
    for alarm in alarms(template).values():
        if alarm.get("Namespace") == metrics.NAMESPACE:
            assert alarm["MetricName"] in emitted


def test_the_dashboard_names_the_stacks_own_resources(template):
    (dashboard,) = of_type(template, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["DashboardBody"]["Fn::Sub"]
    named = set(re.findall(r"\$\{([^}]+)\}", body))
    assert named
    for name in named:
        resource = name.split(".")[0]
        assert resource.startswith("AWS::") or resource in template["Resources"], name
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    shown = {
        item
        for widget in widgets
        for metric in widget["properties"]["metrics"]
        for item in metric
        if isinstance(item, str)
    }
    for metric in (
        "Count",
        "5xx",
        "Latency",
        "IteratorAge",
        "ApproximateNumberOfMessagesVisible",
        metrics.API_FAULTS,
        metrics.RECONCILIATION_DRIFT,
        *metrics.MOVEMENTS.values(),
    ):
        assert metric in shown, metric
    queues = {n for n in of_type(template, "AWS::SQS::Queue") if "DeadLetters" in n}
    assert {q for q in queues if f"${{{q}.QueueName}}" in body} == queues


def test_the_api_access_log_has_what_an_investigation_needs(template):
    api = template["Resources"]["CrmApi"]["Properties"]["AccessLogSettings"]
    assert api["DestinationArn"] == {"Fn::GetAtt": "ApiAccessLogs.Arn"}
    fields = json.loads(api["Format"])
    assert fields["requestId"] == "$context.requestId"
    assert fields["routeKey"] == "$context.routeKey"
    assert fields["status"] == "$context.status"
    assert fields["latencyMs"] == "$context.responseLatency"
    assert fields["sub"] == "$context.authorizer.claims.sub"
    logs = template["Resources"]["ApiAccessLogs"]["Properties"]
    assert logs["RetentionInDays"] == {"Fn::If": ["IsProd", 90, 14]}


def test_functions_are_not_traced(template):
    """The Tracer's import cost on every cold start bought traces the logs and metrics
    already give (docs/operations.md, "Tracing")."""
    assert "Tracing" not in template["Globals"]["Function"]
    for function in of_type(template, "AWS::Serverless::Function").values():
        assert "Tracing" not in function


# -- what the handlers print ------------------------------------------------------------


def test_a_refused_request_is_logged_once_at_info_with_its_code(lambda_env, printed):
    answer = call("POST", "/api/crm/points/award", body={"customerId": "x", "amount": "10"})
    assert answer.status == 422
    (refused,) = printed.read().logs("request refused")
    assert refused["level"] == "INFO"
    assert (refused["code"], refused["status"]) == ("VALIDATION_ERROR", 422)
    assert refused["correlation_id"] == answer.body["requestId"]
    assert printed.metric(metrics.API_FAULTS) == []


def test_a_fault_is_logged_with_its_stack_counted_and_answered_without_it(
    lambda_env, printed, monkeypatch
):
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(handler("award_points").api_operations, "award_points", broken)
    answer = call(
        "POST",
        "/api/crm/points/award",
        body={"customerId": "cust-1", "amount": 10, "reason": "Welcome"},
    )
    assert answer.status == 500
    assert "fire" not in json.dumps(answer.body)
    (fault,) = printed.read().logs("Unhandled fault")
    assert fault["level"] == "ERROR"
    assert "RuntimeError: the disk is on fire" in fault["exception"]
    assert fault["correlation_id"] == answer.body["requestId"]
    assert printed.metric(metrics.API_FAULTS) == [1.0]


def test_a_replay_and_a_write_that_kept_conflicting_are_counted(
    lambda_env, printed, monkeypatch, customer_id
):
    body = {"customerId": customer_id, "amount": 10, "reason": "Welcome"}
    call("POST", "/api/crm/points/award", body=body, key="same-key")
    again = call("POST", "/api/crm/points/award", body=body, key="same-key")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert printed.read().metric(metrics.IDEMPOTENT_REPLAYS) == [1.0]

    def conflict(*_: Any, **__: Any) -> Any:
        raise WriteConflict("someone else wrote first")

    service = runtime().service
    monkeypatch.setattr(service, "_attempt", conflict)
    monkeypatch.setattr(service, "sleep", lambda _: None)
    busy = call("POST", "/api/crm/points/award", body=body)
    assert (busy.status, busy.body["error"]["details"]["retryable"]) == (409, True)
    assert printed.read().metric(metrics.WRITE_CONFLICTS_EXHAUSTED) == [1.0]


def test_an_alert_change_that_kept_conflicting_is_counted_too(lambda_env, printed, monkeypatch):
    def conflict(*_: Any, **__: Any) -> Any:
        raise WriteConflict("someone else wrote first")

    alerts = runtime().alerts
    monkeypatch.setattr(alerts, "_change_once", conflict)
    monkeypatch.setattr(alerts, "sleep", lambda _: None)
    busy = call("POST", "/api/crm/alerts/01ALERT/acknowledge", role="ADMIN", body={})
    assert (busy.status, busy.body["error"]["details"]["retryable"]) == (409, True)
    assert printed.read().metric(metrics.WRITE_CONFLICTS_EXHAUSTED) == [1.0]


def test_a_daily_run_beats_its_heartbeat_under_its_execution_id(lambda_env, printed):
    run = json.loads((ROOT / "events" / "schedule_system_alerts.json").read_text())
    handler("system_alerts").lambda_handler(run, LambdaContext())
    printed.read()
    assert printed.metric(metrics.DAILY_RUN_COMPLETED, schedule="system-alerts") == [1.0]
    (finished,) = printed.logs("system alerts run finished")
    assert finished["correlation_id"] == run["executionId"]


def test_an_event_function_logs_under_the_event_id(printed, monkeypatch):
    completed = handler("booking_completed")

    def booking_completed(*_: Any) -> None:
        logger.info("booking handled")

    monkeypatch.setattr(completed.booking_effects, "booking_completed", booking_completed)
    monkeypatch.setattr(completed, "runtime", lambda: SimpleNamespace(service=None))
    event = json.loads((ROOT / "events" / "booking_completed.json").read_text())
    completed.lambda_handler(event, LambdaContext())
    (handled,) = printed.read().logs("booking handled")
    assert handled["correlation_id"] == event["id"]


def test_reconciliation_drift_is_emitted_even_when_zero(printed):
    metrics.reconciliation_drift(0)
    metrics.metrics.flush_metrics()
    assert printed.read().metric(metrics.RECONCILIATION_DRIFT) == [0.0]


def _records(*sequence_numbers: str) -> dict[str, Any]:
    changes = [
        {"eventID": n, "eventName": "INSERT", "dynamodb": {"SequenceNumber": n, "NewImage": {}}}
        for n in sequence_numbers
    ]
    return {"Records": [dynamodb_stream_record(c, STREAM_ARN, REGION) for c in changes]}


def test_a_failed_stream_record_is_counted_and_logged_under_its_sequence_number(
    printed, monkeypatch
):
    stream = handler("ledger_stream")
    reactions = SimpleNamespace(on_batch=lambda images: 1)
    monkeypatch.setattr(stream, "runtime", lambda: SimpleNamespace(reactions=reactions))
    answer = stream.lambda_handler(_records("100", "200", "300"), LambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": "200"}]}
    printed.read()
    assert printed.metric(metrics.STREAM_RECORDS_FAILED) == [1.0]
    (failed,) = printed.logs("record failed; the batch comes again from it")
    assert failed["correlation_id"] == "200"


def _sqs(*bodies: str) -> dict[str, Any]:
    messages = [
        {"MessageId": f"message-{index}", "ReceiptHandle": "handle", "Body": body, "MD5OfBody": ""}
        for index, body in enumerate(bodies)
    ]
    return {"Records": [sqs_record(message, QUEUE_ARN, REGION) for message in messages]}


def test_notifications_sent_and_failed_are_counted_by_channel(printed, monkeypatch):
    sender = handler("send_notifications")
    config = SimpleNamespace(sender_email="points@example.org")
    service = SimpleNamespace(config=config, admin=None)
    core = SimpleNamespace(messaging=None, effects=None, service=service)
    monkeypatch.setattr(sender, "runtime", lambda: core)

    def deliver(notification: Any, *_: Any) -> bool:
        if notification.channel == "sms":
            raise RuntimeError("SNS refused")
        return True

    monkeypatch.setattr(sender, "deliver", deliver)
    email = {
        "notificationId": "n-1",
        "customerId": "cust-1",
        "channel": "email",
        "to": "thandi@example.com",
        "kind": "pointsAwarded",
        "subject": "Points",
        "body": "Hello",
    }
    sms = {**email, "notificationId": "n-2", "channel": "sms", "to": "+27821234567"}
    answer = sender.lambda_handler(_sqs(json.dumps(email), json.dumps(sms)), LambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": "message-1"}]}
    printed.read()
    assert printed.metric(metrics.NOTIFICATIONS_SENT, channel="email") == [1.0]
    assert printed.metric(metrics.NOTIFICATIONS_FAILED, channel="sms") == [1.0]
    (failed,) = printed.logs("notification failed")
    assert (failed["correlation_id"], failed["level"]) == ("message-1", "ERROR")


def test_bulk_rows_done_and_failed_are_counted(printed, monkeypatch):
    worker = handler("bulk_award_worker")
    rows = [
        SimpleNamespace(status=s) for s in (RowStatus.AWARDED, RowStatus.AWARDED, RowStatus.FAILED)
    ]
    bulk = SimpleNamespace(process=lambda body, now: rows)
    monkeypatch.setattr(worker, "runtime", lambda: SimpleNamespace(bulk_awards=lambda: bulk))
    assert worker.lambda_handler(_sqs("{}"), LambdaContext()) == {"batchItemFailures": []}
    printed.read()
    assert printed.metric(metrics.BULK_ROWS_AWARDED) == [2.0]
    assert printed.metric(metrics.BULK_ROWS_FAILED) == [1.0]


def test_ledger_movements_are_counted_once_where_the_stream_counts_them(
    ledger_stack: Stack, customer_id: str, printed
):
    ledger_stack.service.award(request(), customer_id=customer_id, amount=300, reason="Welcome")
    ledger_stack.service.redeem(request(), customer_id=customer_id, amount=100, reason="Desk")
    ledger_stack.drain()
    printed.read()
    assert sum(printed.metric("PointsAwarded")) == 300
    assert sum(printed.metric("PointsRedeemed")) == 100
    # The same records delivered again: counted in the analytics before, so not again.
    records = test_ledger_stream.stream_records(ledger_stack)
    ours = [r for r in records if customer_id in json.dumps(r["dynamodb"]["NewImage"])]
    assert len(ours) == 2
    ledger_stack.local.runner.invoke(
        ledger_stack.local.functions["LedgerStreamFunction"], {"Records": ours}
    )
    assert printed.read().metric("PointsAwarded") == [300.0]
