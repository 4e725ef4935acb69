"""The template's EventBridge rules, delivering events to their functions (SPEC §11).

Every `EventBridgeRule` event of every function is a rule: its bus (`EventBusName`, the
account's default bus when absent), its `Pattern`, its target input (`Input` or `InputPath`,
else the whole event). `BusDispatcher.deliver` hands an event to each rule of its bus that
matches it, as the event a Lambda target receives, and reports per function whether it
succeeded.

Two paths lead to it, so both behave the same:
- `POST /local/events` (local/control.py), with PutEvents entries;
- the functions' own `PutEvents` through boto3, which reach moto's EventBridge: at start each
  bus gets a catch-all rule whose target is a queue of the stack's own (its "tap"), and
  `relay()` delivers what arrived there.

Like Lambda's asynchronous invocation, a function that fails is run again up to its
`EventInvokeConfig.MaximumRetryAttempts` (default 2) times, then the event goes to its
`OnFailure` destination (an SQS queue) when the template names one. The retries are not
delayed locally. The event's and the on-failure record's shapes are local/lambda_events.py's.
"""

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from local.event_patterns import parse_pattern
from local.functions import Function, FunctionHost, Invocation
from local.lambda_events import async_invocation_failure, eventbridge_event
from local.resources import ACCOUNT_ID, DEFAULT_BUS, LocalResources

# EventBridge requires a pattern; one that every event matches.
EVERY_EVENT = json.dumps({"source": [{"prefix": ""}]})
# Lambda's default for asynchronous invocations.
DEFAULT_ASYNC_RETRIES = 2


@dataclass(frozen=True)
class Rule:
    """One `EventBridgeRule` event of a function."""

    function: Function
    name: str  # the event's logical id
    bus: str
    pattern: Mapping[str, Any] = field(compare=False)
    input: str | None = None
    input_path: str | None = None

    def target_input(self, event: Mapping[str, Any]) -> Any:
        """What the function receives: the `Input` constant, the `InputPath` part, or all."""
        if self.input is not None:
            return json.loads(self.input)
        if self.input_path is not None:
            found: Any = event
            for part in self.input_path.removeprefix("$").strip(".").split("."):
                if part:
                    found = found.get(part) if isinstance(found, Mapping) else None
            return found
        return dict(event)


def discover_rules(functions: Mapping[str, Function], resources: LocalResources) -> list[Rule]:
    """The rules of every function's `EventBridgeRule` events."""
    rules: list[Rule] = []
    for function in functions.values():
        for event in function.events_of("EventBridgeRule"):
            properties = event.properties
            if "InputTransformer" in properties:
                raise ValueError(
                    f"template.yaml: {function.name}.{event.name}: InputTransformer is not "
                    "run locally; use Input or InputPath"
                )
            rules.append(
                Rule(
                    function=function,
                    name=event.name,
                    bus=resources.bus_name(properties.get("EventBusName")),
                    pattern=parse_pattern(properties.get("Pattern") or {}),
                    input=properties.get("Input"),
                    input_path=properties.get("InputPath"),
                )
            )
    return rules


@dataclass
class Delivery:
    """An event's delivery to one function: its last invocation, and how many it took."""

    rule: Rule
    attempts: int
    invocation: Invocation
    dead_letter_queue: str | None = None

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "function": self.rule.function.name,
            "rule": self.rule.name,
            "succeeded": self.invocation.succeeded,
            "attempts": self.attempts,
        }
        if self.invocation.succeeded:
            summary["result"] = self.invocation.result
        else:
            summary["error"] = self.invocation.error()
            summary["deadLetterQueue"] = self.dead_letter_queue
        return summary


def _tap_name(prefix: str, what: str) -> str:
    """A name for the stack's own rule or queue (letters, digits, - and _)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"local-stack-{prefix}{what}")[:64]


class BusDispatcher:
    """Delivers events to the rules that match them; `services` (the stand-ins) carry the
    functions' own PutEvents (see `install_tap`) and the on-failure destinations."""

    def __init__(
        self,
        rules: list[Rule],
        runner: FunctionHost,
        resources: LocalResources,
        services: Any = None,
        prefix: str = "",
    ) -> None:
        self.rules = rules
        self.prefix = prefix
        self.runner = runner
        self.resources = resources
        self.services = services
        self.delivered = 0
        self._taps: dict[str, str] = {}  # queue URL -> bus name

    @property
    def buses(self) -> list[str]:
        """The template's buses and the default bus, which the functions may put events on."""
        return sorted(
            {DEFAULT_BUS, *self.resources.bus_names.values(), *(r.bus for r in self.rules)}
        )

    def default_bus(self) -> str:
        """Where a `/local/events` entry without EventBusName goes: the template's one bus
        when it has exactly one (the booking system's), else the default bus."""
        named = set(self.resources.bus_names.values())
        return named.pop() if len(named) == 1 else DEFAULT_BUS

    def deliver(self, bus: str, event: Mapping[str, Any]) -> list[Delivery]:
        """Run every function whose rule on `bus` matches `event`, in template order."""
        from local.event_patterns import matches

        deliveries = [
            self._invoke(rule, event)
            for rule in self.rules
            if rule.bus == bus and matches(rule.pattern, event)
        ]
        self.delivered += 1
        return deliveries

    def _invoke(self, rule: Rule, event: Mapping[str, Any]) -> Delivery:
        invoke_config = rule.function.properties.get("EventInvokeConfig") or {}
        retries = invoke_config.get("MaximumRetryAttempts", DEFAULT_ASYNC_RETRIES)
        target_input = rule.target_input(event)
        what = f"{event.get('detail-type')} from {event.get('source')} ({rule.name})"
        attempts = 0
        while True:
            attempts += 1
            invocation = self.runner.invoke(rule.function, target_input, what=what)
            if invocation.succeeded or attempts > retries:
                break
        delivery = Delivery(rule, attempts, invocation)
        if not invocation.succeeded:
            delivery.dead_letter_queue = self._send_on_failure(
                rule.function, invoke_config, target_input, invocation, attempts
            )
        return delivery

    def _send_on_failure(
        self,
        function: Function,
        invoke_config: Mapping[str, Any],
        payload: Any,
        invocation: Invocation,
        attempts: int,
    ) -> str | None:
        """Lambda's on-failure record of an asynchronous invocation, sent to the SQS
        destination; the queue's name, or None when there is none."""
        destination = ((invoke_config.get("DestinationConfig") or {}).get("OnFailure")) or {}
        if destination.get("Type", "SQS") != "SQS" or "Destination" not in destination:
            return None
        return send_failure_record(
            self.services,
            self.resources,
            destination["Destination"],
            async_invocation_failure(
                function.arn, invocation.request_id, attempts, payload, invocation.error()
            ),
        )

    # -- the functions' own events, through moto's EventBridge --

    def install_tap(self) -> None:
        """Give each bus in moto a rule that sends every event to a queue of the stack's."""
        events = self.services.client("events")
        sqs = self.services.client("sqs")
        for bus in self.buses:
            url = sqs.create_queue(QueueName=_tap_name(self.prefix, f"bus-{bus}"))["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
            rule = _tap_name(self.prefix, "delivery")
            events.put_rule(Name=rule, EventBusName=bus, EventPattern=EVERY_EVENT)
            events.put_targets(
                Rule=rule,
                EventBusName=bus,
                Targets=[{"Id": "local-stack", "Arn": arn["Attributes"]["QueueArn"]}],
            )
            self._taps[url] = bus

    def relay(self) -> int:
        """Deliver the events the functions have put on the buses since; how many."""
        if not self._taps:
            return 0
        sqs = self.services.client("sqs")
        relayed = 0
        for url, bus in self._taps.items():
            while True:
                messages = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0
                ).get("Messages", [])
                if not messages:
                    break
                for message in messages:
                    self.deliver(bus, _target_shape(json.loads(message["Body"])))
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    relayed += 1
        return relayed


def _target_shape(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event as moto's bus put it on the tap queue, in the shape a Lambda target gets
    (moto adds `ingestion-time` and may leave out `account`)."""
    return eventbridge_event(
        event["source"],
        event["detail-type"],
        event.get("detail", {}),
        event.get("region"),
        time=event.get("time") or None,
        resources=event.get("resources") or [],
        event_id=event["id"],
        account=str(event.get("account") or ACCOUNT_ID),
        version=str(event.get("version", "0")),
    )


def send_failure_record(
    services: Any, resources: LocalResources, destination: Any, record: Mapping[str, Any]
) -> str | None:
    """Send an on-failure record to an SQS destination (`!GetAtt Queue.Arn` or an ARN);
    the queue's name, or None when it is not one of the stack's queues."""
    if services is None:
        return None
    url = resources.queue_url_of_arn(str(resources.resolve(destination)))
    if url is None:
        return None
    services.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(record, default=str))
    return url.rpartition("/")[2]
