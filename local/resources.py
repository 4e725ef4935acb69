"""The template's queues, topics and event buses, made in the AWS stand-ins, and the values
CloudFormation would give their `!Ref` and `!GetAtt` (SPEC §11).

A function's environment in template.yaml names these resources by intrinsic functions
(`!Ref BookingEventsDeadLetters`, `!GetAtt OpsTopic.TopicArn`, `!Sub ${PointsBus.Arn}`);
locally each resolves to the stand-in's own value: a queue's URL and ARN in moto, a topic's
ARN, a bus's name, the local table. What cannot be resolved locally (a Cognito pool, a
condition) resolves to None, and the variable is left out, as before.
"""

import contextlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from local.dynamodb_local import REGION

ACCOUNT_ID = "123456789012"
STACK_NAME = "crm-points-local"
DEFAULT_BUS = "default"

QUEUE = "AWS::SQS::Queue"
TOPIC = "AWS::SNS::Topic"
BUS = "AWS::Events::EventBus"
TABLE = "AWS::DynamoDB::Table"
BUCKET = "AWS::S3::Bucket"

_SUBSTITUTION = re.compile(r"\$\{([^}]+)\}")


class Unresolved(Exception):
    """An intrinsic function whose value only CloudFormation in AWS could give."""


@dataclass
class LocalResources:
    """The local values of the template's resources.

    `table_name` is the local table's (the `TABLE_NAME` of the stack), `stream_arn` its
    stream's once known; queues, topics and buses get theirs from `create()`. `prefix` is put
    before the names of resources the template leaves unnamed (tests keep theirs apart).
    """

    template: dict[str, Any]
    table_name: str = ""
    stream_arn: str = ""
    prefix: str = ""
    region: str = REGION
    account_id: str = ACCOUNT_ID
    queue_urls: dict[str, str] = field(default_factory=dict)  # logical id -> URL
    queue_arns: dict[str, str] = field(default_factory=dict)
    topic_arns: dict[str, str] = field(default_factory=dict)
    bus_names: dict[str, str] = field(default_factory=dict)
    bucket_names: dict[str, str] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, Any]:
        found: dict[str, Any] = self.template.get("Resources") or {}
        return found

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        """{logical id: Properties} of the template's resources of one type."""
        return {
            name: resource.get("Properties") or {}
            for name, resource in self.resources.items()
            if resource.get("Type") == kind
        }

    # -- creation in the stand-ins --

    def create(self, services: Any) -> "LocalResources":
        """Make the template's queues (dead-letter queues first, for the redrive policies),
        topics and buses in the stand-ins; again on the next start changes nothing."""
        sqs = services.client("sqs")
        queues = self.of_type(QUEUE)
        for name in sorted(queues, key=lambda queue: "RedrivePolicy" in queues[queue]):
            properties = queues[name]
            queue_name = self._name(properties.get("QueueName"), name)
            if properties.get("FifoQueue") and not queue_name.endswith(".fifo"):
                queue_name += ".fifo"
            attributes: dict[str, str] = {}
            if "RedrivePolicy" in properties:
                attributes["RedrivePolicy"] = json.dumps(self._redrive_policy(properties))
            for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds"):
                if isinstance(properties.get(key), int):
                    attributes[key] = str(properties[key])
            if properties.get("FifoQueue"):
                attributes["FifoQueue"] = "true"
            url = sqs.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
            self.queue_urls[name] = url
            self.queue_arns[name] = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
        sns = services.client("sns")
        for name, properties in self.of_type(TOPIC).items():
            topic_name = self._name(properties.get("TopicName"), name)
            self.topic_arns[name] = sns.create_topic(Name=topic_name)["TopicArn"]
        events = services.client("events")
        for name, properties in self.of_type(BUS).items():
            bus_name = self._name(properties.get("Name"), name)
            with contextlib.suppress(events.exceptions.ResourceAlreadyExistsException):
                events.create_event_bus(Name=bus_name)
            self.bus_names[name] = bus_name
        s3 = services.client("s3")
        for name, resource in self.resources.items():
            # A bucket the template makes only in some deployments (the console's, with
            # Cognito) is not the local stack's.
            if resource.get("Type") != BUCKET or "Condition" in resource:
                continue
            bucket = self._name(None, name).lower()
            with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
                s3.create_bucket(
                    Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.region}
                )
            self.bucket_names[name] = bucket
        return self

    def _name(self, declared: Any, logical_id: str) -> str:
        try:
            value = self.resolve(declared) if declared is not None else None
        except Unresolved:
            value = None
        return str(value) if value else f"{self.prefix}{logical_id}"

    def _redrive_policy(self, properties: Mapping[str, Any]) -> dict[str, Any]:
        policy = self.resolve(properties["RedrivePolicy"])
        if isinstance(policy, str):
            policy = json.loads(policy)
        return {
            "deadLetterTargetArn": str(policy["deadLetterTargetArn"]),
            "maxReceiveCount": str(policy["maxReceiveCount"]),
        }

    # -- lookups --

    def queue_url_of_arn(self, arn: str) -> str | None:
        """The local URL of a queue given its ARN (as the template names destinations)."""
        for name, queue_arn in self.queue_arns.items():
            if queue_arn == arn:
                return self.queue_urls[name]
        return None

    def bus_name(self, value: Any) -> str:
        """A rule's `EventBusName` (a name, an ARN or an intrinsic) as a bus name; none
        given is the account's default bus."""
        if value is None:
            return DEFAULT_BUS
        resolved = str(self.resolve(value))
        return resolved.rpartition("event-bus/")[2] if resolved.startswith("arn:") else resolved

    # -- intrinsic functions --

    def resolve(self, value: Any) -> Any:
        """`value` with its intrinsic functions replaced by their local values; raises
        Unresolved for one that has none here."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), *_ = value.items()
            if key == "Ref":
                return self._ref(str(argument))
            if key == "Fn::GetAtt":
                parts = argument.split(".", 1) if isinstance(argument, str) else argument
                return self._get_att(str(parts[0]), str(parts[1]))
            if key == "Fn::Sub":
                return self._sub(argument)
            if key == "Fn::Join":
                separator, items = argument
                return str(separator).join(str(self.resolve(item)) for item in items)
            if key.startswith("Fn::") or key == "Condition":
                raise Unresolved(f"{key} is not resolved locally")
        return {key: self.resolve(item) for key, item in value.items()}

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": STACK_NAME,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        parameter = (self.template.get("Parameters") or {}).get(name)
        if parameter is not None:
            if "Default" not in parameter:
                raise Unresolved(f"parameter {name} has no default")
            return str(parameter["Default"])
        kind = (self.resources.get(name) or {}).get("Type")
        if kind == TABLE and self.table_name:
            return self.table_name
        if kind == QUEUE and name in self.queue_urls:
            return self.queue_urls[name]
        if kind == TOPIC and name in self.topic_arns:
            return self.topic_arns[name]
        if kind == BUS and name in self.bus_names:
            return self.bus_names[name]
        if kind == BUCKET and name in self.bucket_names:
            return self.bucket_names[name]
        raise Unresolved(f"!Ref {name} has no local value")

    def _get_att(self, name: str, attribute: str) -> str:
        kind = (self.resources.get(name) or {}).get("Type")
        values: dict[str, str] = {}
        if kind == TABLE and self.table_name:
            values["Arn"] = (
                f"arn:aws:dynamodb:{self.region}:{self.account_id}:table/{self.table_name}"
            )
            if self.stream_arn:
                values["StreamArn"] = self.stream_arn
        elif kind == QUEUE and name in self.queue_urls:
            values = {
                "Arn": self.queue_arns[name],
                "QueueUrl": self.queue_urls[name],
                "QueueName": self.queue_arns[name].rpartition(":")[2],
            }
        elif kind == TOPIC and name in self.topic_arns:
            arn = self.topic_arns[name]
            values = {"TopicArn": arn, "TopicName": arn.rpartition(":")[2]}
        elif kind == BUS and name in self.bus_names:
            bus = self.bus_names[name]
            values = {
                "Name": bus,
                "Arn": f"arn:aws:events:{self.region}:{self.account_id}:event-bus/{bus}",
            }
        elif kind == BUCKET and name in self.bucket_names:
            values = {"Arn": f"arn:aws:s3:::{self.bucket_names[name]}"}
        if attribute not in values:
            raise Unresolved(f"!GetAtt {name}.{attribute} has no local value")
        return values[attribute]

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        resolved_variables = {key: str(self.resolve(item)) for key, item in variables.items()}

        def replace(found: re.Match[str]) -> str:
            name = found.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in resolved_variables:
                return resolved_variables[name]
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return self._get_att(resource, attribute)
            return self._ref(name)

        return _SUBSTITUTION.sub(replace, str(text))

    def environment_of(self, variables: Mapping[str, Any]) -> dict[str, str]:
        """A function's `Environment.Variables` with their local values; a variable whose
        value only AWS could give is left out."""
        environment: dict[str, str] = {}
        for name, value in variables.items():
            try:
                resolved = self.resolve(value)
            except Unresolved:
                continue
            if isinstance(resolved, bool):
                environment[name] = "true" if resolved else "false"
            elif isinstance(resolved, str | int | float):
                environment[name] = str(resolved)
        return environment
