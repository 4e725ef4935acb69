"""Scheduled runs as EventBridge Scheduler delivers them: the Input of the function's
ScheduleV2 event in template.yaml, with the Scheduler's context attributes filled in."""

import json
import uuid
from datetime import datetime
from typing import Any

from crm_points.records import iso_utc
from local.template import load_template


def schedule_input(name: str) -> str:
    """The Input of the ScheduleV2 event named `name`."""
    for resource in load_template()["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] == "ScheduleV2" and event["Properties"]["Name"] == name:
                return str(event["Properties"]["Input"])
    raise KeyError(name)


def scheduled_event(name: str, time: datetime, execution_id: str | None = None) -> Any:
    """The event the Scheduler sends the function of schedule `name` for a run at `time`."""
    text = (
        schedule_input(name)
        .replace("<aws.scheduler.scheduled-time>", iso_utc(time).replace(".000Z", "Z"))
        .replace("<aws.scheduler.execution-id>", execution_id or str(uuid.uuid4()))
    )
    return json.loads(text)
