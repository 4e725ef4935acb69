"""The local stack's event plumbing (SPEC §11, docs/local.md): the bus, schedules, the table's
stream, SQS consumers, drain and the outbox, through the real server on DynamoDB Local and
moto, with a template and tiny functions of this test's own; then the real booking event."""

import http.client
import json
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from crm_points.runtime import runtime
from local.api_server import ApiServer
from local.aws_services import AwsServices
from local.dynamodb_local import client
from local.event_patterns import BadPattern, matches, parse_pattern
from local.resources import LocalResources
from local.stack import LocalStack, build_stack
from local.streams import StreamConsumer
from local.template import load_template
from local.token import make_token

ROOT = Path(__file__).resolve().parents[2]

# The functions of the test template: each appends what it was given to RECORD_FILE and
# fails where its input says so.
HANDLERS = textwrap.dedent(
    """
    import json
    import os

    import boto3


    def _record(kind, payload):
        with open(os.environ["RECORD_FILE"], "a") as out:
            out.write(json.dumps({"kind": kind, "payload": payload}) + "\\n")


    def _seen(key):
        marker = os.environ["RECORD_FILE"] + "." + key
        if os.path.exists(marker):
            return True
        open(marker, "w").close()
        return False


    def on_event(event, context):
        _record("event:" + context.function_name, event)
        if event.get("detail", {}).get("fail"):
            raise RuntimeError("this event always fails")
        return {"seen": event["id"]}


    def on_stream(event, context):
        failures = []
        for record in event["Records"]:
            image = record["dynamodb"]["NewImage"]
            key = image["SK"]["S"]
            fail = image.get("fail", {}).get("S")
            if fail == "always" or (fail == "once" and not _seen(key)):
                _record("stream-failed", key)
                failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
                continue
            _record("stream", record)
            if "forward" in image:
                boto3.client("sqs").send_message(
                    QueueUrl=os.environ["WORK_QUEUE_URL"],
                    MessageBody=json.dumps({"from": key, "fail": False}),
                )
        return {"batchItemFailures": failures}


    def on_queue(event, context):
        failures = []
        for record in event["Records"]:
            body = json.loads(record["body"])
            _record("queue", record)
            if body.get("fail"):
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}


    def on_schedule(event, context):
        _record("schedule", event)
        boto3.client("sesv2").send_email(
            FromEmailAddress="points@example.com",
            Destination={"ToAddresses": ["thandi@example.org"]},
            Content={
                "Simple": {
                    "Subject": {"Data": "500 points expire in 30 days"},
                    "Body": {"Text": {"Data": "Use them now!"}},
                }
            },
        )
        boto3.client("sns").publish(PhoneNumber="+27821234567", Message="500 pts expire soon")
        boto3.client("events").put_events(
            Entries=[
                {
                    "Source": "crm.points",
                    "DetailType": "Points Expiring",
                    "Detail": json.dumps({"customerId": "c-1", "points": 500}),
                    "EventBusName": os.environ["BUS_NAME"],
                }
            ]
        )
        return {"ranAsOf": event["time"]}
    """
)


def _function(handler: str, events: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::Serverless::Function",
        "Properties": {"Handler": f"handler.{handler}", "Events": events, **properties},
    }


def plumbing_template(prefix: str, record_file: Path) -> dict[str, Any]:
    """Every kind of event source, on resources named apart by `prefix`."""
    bus = {"Ref": "Bus"}
    return {
        "Globals": {
            "Function": {
                "CodeUri": "functions/",
                "Timeout": 10,
                "Environment": {
                    "Variables": {
                        "RECORD_FILE": str(record_file),
                        "WORK_QUEUE_URL": {"Ref": "WorkQueue"},
                        "WORK_QUEUE_ARN": {"Fn::Sub": "${WorkQueue.Arn}"},
                        "BUS_NAME": bus,
                        "BUS_ARN": {"Fn::GetAtt": ["Bus", "Arn"]},
                        "ALERTS_TOPIC": {"Ref": "Alerts"},
                        "TABLE_ARN": {"Fn::GetAtt": "PointsTable.Arn"},
                        "STAGE": {"Fn::Sub": "stage-${Environment}"},
                        "POOL": {"Ref": "UserPool"},  # nothing local: left out
                    }
                },
            }
        },
        "Parameters": {"Environment": {"Type": "String", "Default": "test"}},
        "Resources": {
            "PointsTable": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
            "UserPool": {"Type": "AWS::Cognito::UserPool", "Properties": {}},
            "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": f"{prefix}bus"}},
            "Alerts": {"Type": "AWS::SNS::Topic", "Properties": {}},
            "WorkQueue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {
                    "RedrivePolicy": {
                        "deadLetterTargetArn": {"Fn::GetAtt": ["WorkDeadLetters", "Arn"]},
                        "maxReceiveCount": 2,
                    }
                },
            },
            "WorkDeadLetters": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "StreamDeadLetters": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "EventDeadLetters": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "BookingFunction": _function(
                "on_event",
                {
                    "Completed": {
                        "Type": "EventBridgeRule",
                        "Properties": {
                            "EventBusName": bus,
                            "Pattern": {
                                "source": ["bookings"],
                                "detail-type": ["Booking Completed"],
                                "detail": {"amountCents": [{"numeric": [">", 0]}]},
                            },
                        },
                    }
                },
                EventInvokeConfig={
                    "MaximumRetryAttempts": 1,
                    "DestinationConfig": {
                        "OnFailure": {
                            "Type": "SQS",
                            "Destination": {"Fn::GetAtt": ["EventDeadLetters", "Arn"]},
                        }
                    },
                },
            ),
            "PointsEventsFunction": _function(
                "on_event",
                {
                    "Published": {
                        "Type": "EventBridgeRule",
                        "Properties": {
                            "EventBusName": bus,
                            "Pattern": {"source": ["crm.points"]},
                        },
                    }
                },
            ),
            "DefaultBusFunction": _function(
                "on_event",
                {
                    "Anything": {
                        "Type": "EventBridgeRule",
                        "Properties": {"Pattern": {"source": [{"prefix": "bookings"}]}},
                    }
                },
            ),
            "StreamFunction": _function(
                "on_stream",
                {
                    "Changes": {
                        "Type": "DynamoDB",
                        "Properties": {
                            "Stream": {"Fn::GetAtt": ["PointsTable", "StreamArn"]},
                            "StartingPosition": "TRIM_HORIZON",
                            "BatchSize": 2,
                            "MaximumRetryAttempts": 2,
                            "BisectBatchOnFunctionError": True,
                            "FunctionResponseTypes": ["ReportBatchItemFailures"],
                            "FilterCriteria": {
                                "Filters": [
                                    {
                                        "Pattern": json.dumps(
                                            {"dynamodb": {"NewImage": {"entity": {"S": ["ENTRY"]}}}}
                                        )
                                    }
                                ]
                            },
                            "DestinationConfig": {
                                "OnFailure": {
                                    "Destination": {"Fn::GetAtt": ["StreamDeadLetters", "Arn"]}
                                }
                            },
                        },
                    }
                },
            ),
            "QueueFunction": _function(
                "on_queue",
                {
                    "Work": {
                        "Type": "SQS",
                        "Properties": {
                            "Queue": {"Fn::GetAtt": ["WorkQueue", "Arn"]},
                            "BatchSize": 5,
                            "FunctionResponseTypes": ["ReportBatchItemFailures"],
                        },
                    }
                },
            ),
            "NightlyFunction": _function(
                "on_schedule",
                {
                    "Nightly": {
                        "Type": "ScheduleV2",
                        "Properties": {
                            "Name": {"Fn::Sub": f"{prefix}nightly-${{Environment}}"},
                            "ScheduleExpression": "cron(30 0 * * ? *)",
                            "ScheduleExpressionTimezone": "Africa/Johannesburg",
                            "Input": json.dumps(
                                {
                                    "time": "<aws.scheduler.scheduled-time>",
                                    "executionId": "<aws.scheduler.execution-id>",
                                    "schedule": "<aws.scheduler.schedule-arn>",
                                    "attempt": "<aws.scheduler.attempt-number>",
                                }
                            ),
                        },
                    }
                },
            ),
        },
    }


@dataclass
class Stack:
    stack: LocalStack
    server: ApiServer
    services: AwsServices
    table: str
    prefix: str
    record_file: Path
    state_dir: Path
    dynamodb: Any

    def records(self, kind: str) -> list[Any]:
        if not self.record_file.exists():
            return []
        lines = [json.loads(line) for line in self.record_file.read_text().splitlines()]
        return [line["payload"] for line in lines if line["kind"] == kind]

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """One request, its body as JSON (Content-Type: application/json unless `headers`
        say otherwise): status and the parsed answer."""
        return self.raw_call(method, path, body, headers)[0:2]

    def raw_call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        """As `call`, with the response's headers (lower-cased names) too."""
        connection = http.client.HTTPConnection(self.server.host, self.server.port, timeout=60)
        try:
            data = body if isinstance(body, bytes) else None
            if body is not None and data is None:
                data = json.dumps(body).encode()
            sent = {"Content-Type": "application/json"} if data is not None else {}
            connection.request(method, path, body=data, headers=sent | (headers or {}))
            response = connection.getresponse()
            answer = json.loads(response.read() or b"null")
            received = {name.lower(): value for name, value in response.getheaders()}
            return response.status, answer, received
        finally:
            connection.close()

    def put(self, sk: str, **attributes: str) -> None:
        item = {"PK": {"S": "test"}, "SK": {"S": sk}}
        item.update({name: {"S": value} for name, value in attributes.items()})
        self.dynamodb.put_item(TableName=self.table, Item=item)

    def queue_messages(self, logical_id: str) -> list[dict[str, Any]]:
        sqs = self.services.client("sqs")
        url = self.stack.resources.queue_urls[logical_id]
        found: list[dict[str, Any]] = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        return found


def _stream_table(dynamodb: Any) -> str:
    name = f"local-plumbing-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return name


@pytest.fixture
def plumbing(tmp_path: Path, dynamodb_endpoint: str, aws_services: AwsServices) -> Iterator[Stack]:
    """A stack of the test template on a fresh table, served on a free port."""
    (tmp_path / "functions").mkdir()
    (tmp_path / "functions" / "handler.py").write_text(HANDLERS)
    prefix = f"t{uuid.uuid4().hex[:6]}-"
    record_file = tmp_path / "records.jsonl"
    dynamodb = client(dynamodb_endpoint)
    table = _stream_table(dynamodb)
    state_dir = tmp_path / "state"
    stack = build_stack(
        plumbing_template(prefix, record_file),
        services=aws_services,
        dynamodb_endpoint=dynamodb_endpoint,
        table_name=table,
        state_dir=state_dir,
        root=tmp_path,
        prefix=prefix,
    )
    with stack.api_server(0, log_requests=False) as server:
        yield Stack(stack, server, aws_services, table, prefix, record_file, state_dir, dynamodb)


def _entry(detail_type: str, detail: dict[str, Any], **extra: str) -> dict[str, Any]:
    return {"Source": "bookings", "DetailType": detail_type, "Detail": json.dumps(detail), **extra}


# -- the template's resources ------------------------------------------------------------------


def test_functions_see_their_resources_local_values(plumbing):
    environment = plumbing.stack.runner.environment_of(plumbing.stack.functions["QueueFunction"])
    resources = plumbing.stack.resources
    assert environment["WORK_QUEUE_URL"] == resources.queue_urls["WorkQueue"]
    assert environment["WORK_QUEUE_URL"].startswith(plumbing.services.endpoint)
    assert environment["WORK_QUEUE_ARN"] == resources.queue_arns["WorkQueue"]
    assert environment["WORK_QUEUE_ARN"].endswith(f":{plumbing.prefix}WorkQueue")
    assert environment["BUS_NAME"] == f"{plumbing.prefix}bus"
    assert environment["BUS_ARN"].endswith(f":event-bus/{plumbing.prefix}bus")
    assert environment["ALERTS_TOPIC"].endswith(f":{plumbing.prefix}Alerts")
    assert environment["TABLE_ARN"].endswith(f":table/{plumbing.table}")
    assert environment["STAGE"] == "stage-test"
    assert "POOL" not in environment
    assert environment["TABLE_NAME"] == plumbing.table
    assert environment["AWS_ENDPOINT_URL_SQS"] == plumbing.services.endpoint
    sqs = plumbing.services.client("sqs")
    policy = sqs.get_queue_attributes(
        QueueUrl=resources.queue_urls["WorkQueue"], AttributeNames=["RedrivePolicy"]
    )["Attributes"]["RedrivePolicy"]
    assert json.loads(policy) == {
        "deadLetterTargetArn": resources.queue_arns["WorkDeadLetters"],
        "maxReceiveCount": 2,
    }
    buses = plumbing.services.client("events").list_event_buses()["EventBuses"]
    assert f"{plumbing.prefix}bus" in {bus["Name"] for bus in buses}


# -- rule matching -----------------------------------------------------------------------------


def test_event_patterns_match_as_eventbridge_does():
    event = {
        "source": "bookings",
        "detail-type": "Booking Completed",
        "detail": {"amountCents": 185000, "currency": "ZAR", "customer": {"email": "a@b.co"}},
    }
    assert matches({"source": ["bookings"]}, event)
    assert not matches({"source": ["crm.points"]}, event)
    assert matches({"detail": {"amountCents": [{"numeric": [">=", 100, "<", 200000]}]}}, event)
    assert not matches({"detail": {"amountCents": [{"numeric": ["<", 100]}]}}, event)
    assert matches({"detail": {"currency": [{"anything-but": ["USD"]}]}}, event)
    assert matches({"detail": {"customer": {"email": [{"suffix": "@b.co"}]}}}, event)
    assert matches({"detail": {"pointsRedeemed": [{"exists": False}]}}, event)
    assert not matches({"detail": {"pointsRedeemed": [{"exists": True}]}}, event)
    assert matches({"detail-type": [{"prefix": "Booking"}], "source": ["x", "bookings"]}, event)
    assert not matches({"detail-type": ["Booking Completed"], "source": ["x"]}, event)
    # Lambda's stream filter over a record
    record = {"dynamodb": {"NewImage": {"entity": {"S": "ENTRY"}}}}
    assert matches({"dynamodb": {"NewImage": {"entity": {"S": ["ENTRY"]}}}}, record)
    assert not matches({"dynamodb": {"NewImage": {"entity": {"S": ["ALERT"]}}}}, record)
    with pytest.raises(BadPattern):
        parse_pattern({"source": "bookings"})  # a value must be an array
    with pytest.raises(BadPattern):
        parse_pattern('{"source": []}')


# -- POST /local/events ------------------------------------------------------------------------


def test_events_reach_the_functions_whose_rules_match(plumbing):
    status, body = plumbing.call(
        "POST",
        "/local/events",
        {
            "entries": [
                _entry("Booking Completed", {"amountCents": 1500}, Time="2026-01-31T22:30:00Z"),
                _entry("Booking Completed", {"amountCents": 0}),  # the content filter says no
                _entry("Booking Cancelled", {"bookingId": "B-1"}),
                _entry("Booking Completed", {"amountCents": 1}, EventBusName="default"),
            ]
        },
    )
    assert status == 200
    matched, filtered, other, default_bus = body["entries"]
    assert matched["eventBusName"] == f"{plumbing.prefix}bus"  # the template's one bus
    assert [(d["function"], d["succeeded"]) for d in matched["deliveries"]] == [
        ("BookingFunction", True)
    ]
    assert matched["deliveries"][0]["result"] == {"seen": matched["eventId"]}
    assert filtered["deliveries"] == []
    assert other["deliveries"] == []
    assert default_bus["eventBusName"] == "default"
    assert [d["function"] for d in default_bus["deliveries"]] == ["DefaultBusFunction"]
    [received] = plumbing.records("event:BookingFunction")
    assert received == {
        "version": "0",
        "id": matched["eventId"],
        "detail-type": "Booking Completed",
        "source": "bookings",
        "account": "123456789012",
        "time": "2026-01-31T22:30:00Z",
        "region": "af-south-1",
        "resources": [],
        "detail": {"amountCents": 1500},
    }


def test_a_failing_function_is_reported_retried_and_dead_lettered(plumbing):
    status, body = plumbing.call(
        "POST",
        "/local/events",
        {"entries": [_entry("Booking Completed", {"amountCents": 5, "fail": True})]},
    )
    assert status == 200
    [delivery] = body["entries"][0]["deliveries"]
    assert delivery["succeeded"] is False
    assert delivery["attempts"] == 2  # EventInvokeConfig.MaximumRetryAttempts: 1
    assert delivery["error"] == {
        "errorType": "RuntimeError",
        "errorMessage": "this event always fails",
    }
    assert delivery["deadLetterQueue"] == f"{plumbing.prefix}EventDeadLetters"
    assert body["failedDeliveryCount"] == 1
    [message] = plumbing.queue_messages("EventDeadLetters")
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestPayload"]["detail"] == {"amountCents": 5, "fail": True}
    assert record["responsePayload"]["errorType"] == "RuntimeError"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "not JSON"),
        ({}, "entries"),
        ({"entries": []}, "entries"),
        ({"entries": [_entry("X", {})] * 11}, "entries"),
        ({"entries": [{"Source": "bookings", "DetailType": "X"}]}, "Detail"),
        ({"entries": [{"Source": "b", "DetailType": "X", "Detail": "[1]"}]}, "JSON object"),
        ({"entries": [{"Source": "b", "DetailType": "X", "Detail": "{"}]}, "JSON object"),
        ({"entries": [_entry("X", {}, Time="yesterday")]}, "ISO 8601"),
        ({"entries": [{**_entry("X", {}), "Extra": 1}]}, "Extra"),
    ],
)
def test_bad_events_are_422_and_run_nothing(plumbing, body, problem):
    status, answer = plumbing.call("POST", "/local/events", body)
    assert status == 422
    assert answer["error"]["code"] == "VALIDATION_ERROR"
    assert problem in answer["error"]["message"]
    assert set(answer) == {"error", "requestId"}
    assert plumbing.records("event:BookingFunction") == []


# -- no other site's page reaches /local/* -----------------------------------------------------


_BOOKING = {"amountCents": 1500}  # what BookingFunction's rule takes


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/local/events", {"entries": [_entry("Booking Completed", _BOOKING)]}),
        ("/local/token", {"userId": "mallory", "role": "ADMIN"}),
    ],
)
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_a_post_any_page_could_send_is_415_and_does_nothing(plumbing, path, body, content_type):
    """What a form, or a fetch without a preflight, can send from any site: refused."""
    for origin in ({}, {"Origin": "http://attacker.example"}):
        status, answer = plumbing.call(
            "POST", path, json.dumps(body).encode(), {"Content-Type": content_type} | origin
        )
        assert status == 415, answer
        assert answer["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
        assert "token" not in answer
    assert plumbing.records("event:BookingFunction") == []


def test_the_local_endpoints_refuse_other_origins_and_their_preflights(plumbing):
    own = f"http://{plumbing.server.host}:{plumbing.server.port}"
    for origin in ("http://attacker.example", "http://localhost:5173", "null"):
        status, _, headers = plumbing.raw_call(
            "OPTIONS",
            "/local/token",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert status >= 400
        assert "access-control-allow-origin" not in headers
        status, answer, headers = plumbing.raw_call(
            "POST",
            "/local/events",
            {"entries": [_entry("Booking Completed", _BOOKING)]},
            {"Origin": origin},
        )
        assert (status, answer["error"]["code"]) == (403, "FORBIDDEN")
        assert "access-control-allow-origin" not in headers
    assert plumbing.records("event:BookingFunction") == []
    # A page rebound by its own DNS to 127.0.0.1 is "same-origin" by name, but not ours.
    rebound = {"Host": f"attacker.example:{plumbing.server.port}"}
    assert plumbing.call("GET", "/local/outbox", headers=rebound)[0] == 403
    status, _ = plumbing.call(
        "POST", "/local/token", {"userId": "mallory", "role": "ADMIN"}, rebound
    )
    assert status == 403
    # The console, served by the stack itself, signs in from its own origin.
    status, signed = plumbing.call(
        "POST", "/local/token", {"userId": "alice", "role": "MANAGER"}, {"Origin": own}
    )
    assert status == 200
    assert signed["role"] == "MANAGER"


# -- POST /local/schedules/{name} --------------------------------------------------------------


def test_a_schedule_runs_its_function_with_schedulers_input(plumbing):
    name = f"{plumbing.prefix}nightly-test"
    status, body = plumbing.call(
        "POST", f"/local/schedules/{name}", {"time": "2026-01-31T22:30:00Z"}
    )
    assert status == 200
    assert body["succeeded"] is True
    assert body["function"] == "NightlyFunction"
    assert body["result"] == {"ranAsOf": "2026-01-31T22:30:00Z"}
    [event] = plumbing.records("schedule")
    assert event == {
        "time": "2026-01-31T22:30:00Z",
        "executionId": body["executionId"],
        "schedule": f"arn:aws:scheduler:af-south-1:123456789012:schedule/default/{name}",
        "attempt": "1",
    }
    uuid.UUID(body["executionId"])
    # Another offset is the same instant in UTC; each run has its own execution id.
    status, again = plumbing.call(
        "POST", f"/local/schedules/{name}", {"time": "2026-02-01T00:30:00+02:00"}
    )
    assert status == 200
    assert again["scheduledTime"] == "2026-01-31T22:30:00Z"
    assert again["executionId"] != body["executionId"]


@pytest.mark.parametrize(
    ("name", "body", "status", "code"),
    [
        ("no-such-schedule", {"time": "2026-01-31T22:30:00Z"}, 404, "NOT_FOUND"),
        (None, {"time": "tomorrow"}, 422, "VALIDATION_ERROR"),
        (None, {"time": "2026-01-31T22:30:00"}, 422, "VALIDATION_ERROR"),  # no time zone
        (None, {}, 422, "VALIDATION_ERROR"),
        (None, {"time": "2026-01-31T22:30:00Z", "extra": 1}, 422, "VALIDATION_ERROR"),
    ],
)
def test_bad_schedule_calls(plumbing, name, body, status, code):
    path = f"/local/schedules/{name or plumbing.prefix + 'nightly-test'}"
    answered, answer = plumbing.call("POST", path, body)
    assert (answered, answer["error"]["code"]) == (status, code)
    assert plumbing.records("schedule") == []


def test_local_paths_and_methods(plumbing):
    assert plumbing.call("GET", "/local/events")[0] == 405
    assert plumbing.call("POST", "/local/outbox")[0] == 405
    status, body = plumbing.call("GET", "/local/nothing")
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")


# -- the outbox, and the functions' own events -------------------------------------------------


def test_the_outbox_lists_what_functions_sent_and_their_events_are_delivered(plumbing):
    assert plumbing.call("GET", "/local/outbox") == (200, {"messages": []})
    status, _ = plumbing.call(
        "POST", f"/local/schedules/{plumbing.prefix}nightly-test", {"time": "2026-01-31T22:30:00Z"}
    )
    assert status == 200
    status, outbox = plumbing.call("GET", "/local/outbox")
    assert status == 200
    email, sms = outbox["messages"]
    assert email == {
        "channel": "email",
        "to": "thandi@example.org",
        "subject": "500 points expire in 30 days",
        "body": "Use them now!",
        "sentAt": email["sentAt"],
    }
    assert sms == {
        "channel": "sms",
        "to": "+27821234567",
        "body": "500 pts expire soon",
        "sentAt": sms["sentAt"],
    }
    assert email["sentAt"].endswith("Z")
    # The function's PutEvents went to moto's bus; the drain delivers it to the matching rule.
    assert plumbing.records("event:PointsEventsFunction") == []
    status, drained = plumbing.call("POST", "/local/drain", {})
    assert status == 200
    assert drained["caughtUp"] is True
    assert drained["processed"]["busEvents"] == 1
    [published] = plumbing.records("event:PointsEventsFunction")
    assert published["source"] == "crm.points"
    assert published["detail-type"] == "Points Expiring"
    assert published["detail"] == {"customerId": "c-1", "points": 500}
    assert set(published) == {
        "version", "id", "detail-type", "source", "account", "time", "region", "resources",
        "detail",
    }  # fmt: skip


# -- the table's stream ------------------------------------------------------------------------


def test_stream_records_arrive_once_each_filtered_in_lambdas_shape(plumbing):
    plumbing.put("e1", entity="ENTRY")
    plumbing.put("x1", entity="ALERT")  # filtered out
    plumbing.put("e2", entity="ENTRY")
    plumbing.put("e3", entity="ENTRY")
    status, drained = plumbing.call("POST", "/local/drain", {})
    assert status == 200
    assert drained["caughtUp"] is True
    assert drained["processed"]["streamRecords"] == 3
    records = plumbing.records("stream")
    assert [r["dynamodb"]["NewImage"]["SK"]["S"] for r in records] == ["e1", "e2", "e3"]
    record = records[0]
    assert set(record) == {
        "eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb",
        "eventSourceARN",
    }  # fmt: skip
    assert record["eventName"] == "INSERT"
    assert record["eventSource"] == "aws:dynamodb"
    assert record["awsRegion"] == "af-south-1"
    assert record["eventSourceARN"] == plumbing.stack.streams[0].stream_arn
    assert set(record["dynamodb"]) >= {
        "ApproximateCreationDateTime", "Keys", "NewImage", "SequenceNumber", "SizeBytes",
        "StreamViewType",
    }  # fmt: skip
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], float)
    assert record["dynamodb"]["Keys"] == {"PK": {"S": "test"}, "SK": {"S": "e1"}}
    # A change is a MODIFY with both images.
    plumbing.put("e1", entity="ENTRY", note="changed")
    plumbing.call("POST", "/local/drain", {})
    modified = plumbing.records("stream")[-1]
    assert modified["eventName"] == "MODIFY"
    assert "note" not in modified["dynamodb"]["OldImage"]
    assert modified["dynamodb"]["NewImage"]["note"] == {"S": "changed"}
    assert len(plumbing.records("stream")) == 4


def test_a_failed_item_is_retried_from_it_then_succeeds(plumbing):
    plumbing.put("a1", entity="ENTRY")
    plumbing.put("a2", entity="ENTRY", fail="once")
    plumbing.put("a3", entity="ENTRY")
    _, drained = plumbing.call("POST", "/local/drain", {})
    assert drained["caughtUp"] is True
    assert plumbing.records("stream-failed") == ["a2"]
    # a1 once; then from a2: a2 and a3, each once.
    assert [r["dynamodb"]["NewImage"]["SK"]["S"] for r in plumbing.records("stream")] == [
        "a1",
        "a2",
        "a3",
    ]
    assert plumbing.queue_messages("StreamDeadLetters") == []


def test_a_record_that_keeps_failing_is_dead_lettered_alone_and_the_stream_moves_on(plumbing):
    """With BisectBatchOnFunctionError the failing batch is split before each retry, as
    Lambda does: the record that keeps failing is dead-lettered alone, and the unrelated
    records around it are delivered."""
    plumbing.put("b0", entity="ENTRY")
    plumbing.put("b1", entity="ENTRY", fail="always")
    for n in range(2, 6):
        plumbing.put(f"b{n}", entity="ENTRY")
    _, drained = plumbing.call("POST", "/local/drain", {})
    assert drained["caughtUp"] is True
    assert drained["processed"]["streamBatchesDeadLettered"] == 1
    # The batch from b1 split in halves (which uses no retry), then b1 alone, once and
    # MaximumRetryAttempts (2) more times.
    failed = plumbing.records("stream-failed")
    assert set(failed) == {"b1"}
    assert len(failed) >= 3
    [message] = plumbing.queue_messages("StreamDeadLetters")
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    info = record["DDBStreamBatchInfo"]
    assert (info["batchSize"], record["requestContext"]["approximateInvokeCount"]) == (1, 3)
    delivered = {r["dynamodb"]["NewImage"]["SK"]["S"] for r in plumbing.records("stream")}
    assert delivered >= {"b0", "b2", "b3", "b4", "b5"}
    assert info["streamArn"] == plumbing.stack.streams[0].stream_arn
    [dead] = plumbing.stack.streams[0].dead_letters
    assert dead["destination"] == f"{plumbing.prefix}StreamDeadLetters"
    plumbing.put("b6", entity="ENTRY")
    plumbing.call("POST", "/local/drain", {})
    assert plumbing.records("stream")[-1]["dynamodb"]["NewImage"]["SK"]["S"] == "b6"


class FlakyStreams:
    """The consumers' dynamodbstreams client, failing or pausing as a test says."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.exceptions = real.exceptions
        self.stale: set[str] = set()  # iterators refused with `stale_code`
        self.stale_code = "ExpiredIteratorException"
        self.failing: str | None = None  # every GetRecords refused with this code
        self.reading = threading.Event()  # set once a GetRecords waits on `release`
        self.release: threading.Event | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def _error(self, code: str) -> Exception:
        kind: type[Exception] = self.real.exceptions.from_code(code)
        return kind({"Error": {"Code": code, "Message": f"{code} (this test's)"}}, "GetRecords")

    def get_records(self, **arguments: Any) -> Any:
        if self.release is not None:
            self.reading.set()
            self.release.wait(60)
        if self.failing is not None:
            raise self._error(self.failing)
        if arguments["ShardIterator"] in self.stale:
            raise self._error(self.stale_code)
        return self.real.get_records(**arguments)


def _flaky_streams(plumbing: Stack) -> FlakyStreams:
    flaky = FlakyStreams(plumbing.stack.streams[0].streams)
    for consumer in plumbing.stack.streams:
        consumer.streams = flaky
    return flaky


def _stream_keys(plumbing: Stack) -> list[str]:
    return [r["dynamodb"]["NewImage"]["SK"]["S"] for r in plumbing.records("stream")]


@pytest.mark.parametrize("code", ["ExpiredIteratorException", "TrimmedDataAccessException"])
def test_an_expired_iterator_is_replaced_after_the_last_record_done(plumbing, code):
    """Iterators last 15 minutes; the one kept since the last pass is refused after a long
    bulk job. The consumer takes a new one after the last record done, as Lambda does."""
    flaky = _flaky_streams(plumbing)
    plumbing.put("i1", entity="ENTRY")
    assert plumbing.call("POST", "/local/drain", {})[1]["caughtUp"] is True
    flaky.stale_code = code
    flaky.stale = {
        position.iterator
        for consumer in plumbing.stack.streams
        for position in consumer.shards.values()
        if position.iterator is not None
    }
    assert flaky.stale
    plumbing.put("i2", entity="ENTRY")
    plumbing.put("i3", entity="ENTRY")
    status, drained = plumbing.call("POST", "/local/drain", {})
    assert status == 200, drained
    assert drained["caughtUp"] is True
    assert drained["processed"]["streamRecords"] == 2
    assert _stream_keys(plumbing) == ["i1", "i2", "i3"]  # each once, none skipped


def test_a_stream_that_cannot_be_read_is_a_503_in_json_and_the_queues_go_on(plumbing):
    flaky = _flaky_streams(plumbing)
    flaky.failing = "InternalServerError"
    plumbing.put("s1", entity="ENTRY")
    sqs = plumbing.services.client("sqs")
    sqs.send_message(
        QueueUrl=plumbing.stack.resources.queue_urls["WorkQueue"], MessageBody='{"n": 1}'
    )
    status, answer, headers = plumbing.raw_call("POST", "/local/drain", {"timeoutSeconds": 30})
    assert status == 503
    assert headers["content-type"] == "application/json"
    assert answer["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert "Traceback" not in json.dumps(answer)
    details = answer["error"]["details"]
    assert details["caughtUp"] is False
    [error] = details["errors"]
    assert error["source"].startswith("stream ")
    assert error["errorType"] == "InternalServerError"
    assert details["processed"]["queueMessages"] == 1  # the queue was served all the same
    # Once the stream answers again, the drain catches up from where it was.
    flaky.failing = None
    status, drained = plumbing.call("POST", "/local/drain", {})
    assert (status, drained["caughtUp"]) == (200, True)
    assert _stream_keys(plumbing) == ["s1"]


def test_a_drain_that_raises_is_a_503_in_json(plumbing, monkeypatch):
    def broken(timeout: float) -> Any:
        raise RuntimeError("the stand-ins went away")

    monkeypatch.setattr(plumbing.stack.event_sources, "drain", broken)
    status, answer = plumbing.call("POST", "/local/drain", {})
    assert status == 503
    assert answer["error"]["details"]["errors"] == [
        {"source": "drain", "errorType": "RuntimeError", "errorMessage": "the stand-ins went away"}
    ]


def test_requests_are_answered_while_a_pass_is_under_way(plumbing):
    """The background pass and a drain hold the event sources' lock for as long as they run;
    nothing the API does needs it, so a request (one that runs a function too) is answered
    while a pass is stuck reading the stream."""
    flaky = _flaky_streams(plumbing)
    flaky.release = threading.Event()
    drained: list[tuple[int, Any]] = []
    drain = threading.Thread(
        target=lambda: drained.append(plumbing.call("POST", "/local/drain", {}))
    )
    plumbing.stack.event_sources.start()
    try:
        assert flaky.reading.wait(30), "the background pass never read the stream"
        status, answer = plumbing.call(
            "POST", "/local/events", {"entries": [_entry("Booking Completed", _BOOKING)]}
        )
        assert status == 200
        assert answer["entries"][0]["deliveries"][0]["succeeded"] is True
        assert plumbing.call("GET", "/local/outbox")[0] == 200
        drain.start()  # waits for the stuck pass: the drain answers once it is through
        status, _ = plumbing.call("GET", "/local/outbox")
        assert status == 200
        assert drained == []  # answered while the drain was still waiting
    finally:
        flaky.release.set()
        plumbing.stack.event_sources.stop()
        if drain.is_alive():
            drain.join(60)
    assert drained[0][0] == 200


def test_a_restart_continues_after_the_saved_position(plumbing):
    plumbing.put("c1", entity="ENTRY")
    plumbing.put("c2", entity="ENTRY")
    plumbing.call("POST", "/local/drain", {})
    assert len(plumbing.records("stream")) == 2
    saved = json.loads((plumbing.state_dir / "streams" / "StreamFunction.Changes.json").read_text())
    assert saved["streamArn"] == plumbing.stack.streams[0].stream_arn
    # A new stack (the next `make run`) on the same table and state folder.
    plumbing.put("c3", entity="ENTRY")
    old = plumbing.stack.streams[0]
    restarted = StreamConsumer(
        old.mapping,
        plumbing.stack.runner,
        plumbing.dynamodb,
        old.streams,
        plumbing.table,
        plumbing.state_dir,
        old.resources,
        plumbing.services,
    )
    progress = restarted.poll()
    assert progress.records == 1
    assert [r["dynamodb"]["NewImage"]["SK"]["S"] for r in plumbing.records("stream")] == [
        "c1",
        "c2",
        "c3",
    ]
    assert restarted.poll().records == 0


# -- SQS consumers, and drain over a chain -----------------------------------------------------


def test_queue_partial_failure_and_redrive_to_the_dead_letter_queue(plumbing):
    sqs = plumbing.services.client("sqs")
    url = plumbing.stack.resources.queue_urls["WorkQueue"]
    for n, fail in ((1, False), (2, True), (3, False)):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"n": n, "fail": fail}),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "work"}},
        )
    status, drained = plumbing.call("POST", "/local/drain", {})
    assert status == 200
    assert drained["caughtUp"] is True
    assert drained["processed"]["queueMessages"] == 2
    assert drained["processed"]["queueMessagesFailed"] == 2  # n=2, received twice
    seen = [json.loads(r["body"])["n"] for r in plumbing.records("queue")]
    assert sorted(seen) == [1, 2, 2, 3]
    record = plumbing.records("queue")[0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == plumbing.stack.resources.queue_arns["WorkQueue"]
    assert record["awsRegion"] == "af-south-1"
    assert record["messageAttributes"]["kind"]["stringValue"] == "work"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"
    assert {"messageId", "receiptHandle", "body", "attributes", "md5OfBody"} <= set(record)
    assert "ApproximateReceiveCount" in record["attributes"]
    [dead] = plumbing.queue_messages("WorkDeadLetters")
    assert json.loads(dead["Body"]) == {"n": 2, "fail": True}
    assert plumbing.stack.queues[0].outstanding() == 0


def test_drain_waits_for_a_chain_stream_then_queue_then_consumer(plumbing):
    plumbing.put("d1", entity="ENTRY", forward="yes")
    status, drained = plumbing.call("POST", "/local/drain", {})
    assert status == 200
    assert drained["caughtUp"] is True
    assert drained["processed"]["streamRecords"] == 1
    assert drained["processed"]["queueMessages"] == 1
    [forwarded] = plumbing.records("queue")
    assert json.loads(forwarded["body"]) == {"from": "d1", "fail": False}


def test_the_background_thread_consumes_without_a_drain(plumbing):
    plumbing.stack.event_sources.poll_interval = 0.05
    plumbing.stack.event_sources.start()
    try:
        plumbing.put("f1", entity="ENTRY")
        for _ in range(200):
            if plumbing.records("stream"):
                break
            time.sleep(0.05)
    finally:
        plumbing.stack.event_sources.stop()
    assert [r["dynamodb"]["NewImage"]["SK"]["S"] for r in plumbing.records("stream")] == ["f1"]


# -- the real template: a booking event earns points -------------------------------------------


def test_the_booking_completed_sample_earns_points_seen_through_the_api(
    tmp_path, dynamodb_endpoint, table_name, aws_services, customer_id
):
    runtime.cache_clear()
    stack = build_stack(
        load_template(),
        services=aws_services,
        dynamodb_endpoint=dynamodb_endpoint,
        table_name=table_name,
        state_dir=tmp_path,
        prefix=f"real{uuid.uuid4().hex[:4]}-",
    )
    sample = json.loads((ROOT / "events" / "booking_completed.json").read_text())
    detail = {**sample["detail"], "customerId": customer_id, "bookingId": f"B-{customer_id}"}
    entry = {
        "Source": sample["source"],
        "DetailType": sample["detail-type"],
        "Detail": json.dumps(detail),
    }
    try:
        with stack.api_server(0, log_requests=False) as server:
            local = Stack(stack, server, aws_services, table_name, "", tmp_path, tmp_path, None)
            status, body = local.call("POST", "/local/events", {"entries": [entry, entry]})
            assert status == 200
            first, replay = body["entries"]
            assert [(d["function"], d["succeeded"]) for d in first["deliveries"]] == [
                ("BookingCompletedFunction", True)
            ]
            assert replay["deliveries"][0]["succeeded"] is True
            connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
            connection.request(
                "GET",
                f"/api/crm/customers/{customer_id}/points",
                headers={"Authorization": f"Bearer {make_token('MANAGER', 'alice')}"},
            )
            response = connection.getresponse()
            summary = json.loads(response.read())
            connection.close()
            assert response.status == 200
            # floor(185000 / 100 * 1): once, however often the event came (§2.9).
            assert summary["currentBalance"] == 1850
            assert summary["lifetimeEarned"] == 1850
    finally:
        runtime.cache_clear()


def test_resources_resolve_intrinsics_or_say_they_cannot():
    resources = LocalResources(
        {
            "Parameters": {"Environment": {"Default": "dev"}},
            "Resources": {"T": {"Type": "AWS::DynamoDB::Table"}},
        },
        table_name="crm-points-local",
    )
    assert resources.resolve({"Ref": "T"}) == "crm-points-local"
    assert resources.resolve({"Fn::Sub": "x-${Environment}-${AWS::Region}"}) == "x-dev-af-south-1"
    assert resources.resolve({"Fn::Sub": "${!Literal}"}) == "${Literal}"
    assert resources.environment_of({"A": {"Fn::If": ["C", 1, 2]}, "B": True, "C": 5}) == {
        "B": "true",
        "C": "5",
    }
