"""The deployment's settings: every environment variable read once, a missing one named."""

import pytest

from crm_points.runtime import Runtime
from crm_points.settings import VARIABLES, MissingSetting, Settings

EVERYTHING = {
    "TABLE_NAME": "crm-points",
    "AWS_REGION": "af-south-1",
    "EVENT_BUS_NAME": "points",
    "NOTIFICATIONS_QUEUE_URL": "https://sqs.af-south-1.amazonaws.com/1/notifications",
    "OPS_TOPIC_ARN": "arn:aws:sns:af-south-1:1:ops",
    "BULK_AWARD_QUEUE_URL": "https://sqs.af-south-1.amazonaws.com/1/bulk",
    "EXPORT_QUEUE_URL": "https://sqs.af-south-1.amazonaws.com/1/export",
    "EXPORT_BUCKET": "crm-points-exports",
}


def test_every_variable_is_read_into_one_model() -> None:
    settings = Settings.from_environment(EVERYTHING)
    assert settings.region == "af-south-1"
    for name, variable in VARIABLES.items():
        assert getattr(settings, name) == EVERYTHING[variable]


def test_the_sdk_default_region_serves_where_lambda_gives_none() -> None:
    environment = {"TABLE_NAME": "crm-points", "AWS_DEFAULT_REGION": "eu-west-1"}
    assert Settings.from_environment(environment).region == "eu-west-1"


def test_a_missing_table_fails_the_cold_start_naming_the_variable() -> None:
    with pytest.raises(MissingSetting, match="TABLE_NAME is not set"):
        Settings.from_environment({"AWS_REGION": "af-south-1"})


@pytest.mark.parametrize(
    ("variable", "build"),
    [
        ("EVENT_BUS_NAME", lambda runtime: runtime.messaging),
        ("NOTIFICATIONS_QUEUE_URL", lambda runtime: runtime.messaging),
        ("OPS_TOPIC_ARN", lambda runtime: runtime.messaging),
        ("BULK_AWARD_QUEUE_URL", lambda runtime: runtime.bulk_queue),
    ],
)
def test_what_needs_a_missing_variable_names_it_when_built(variable, build) -> None:
    settings = Settings.from_environment({**EVERYTHING, variable: ""})
    runtime = Runtime(settings, service=None)  # type: ignore[arg-type]
    with pytest.raises(MissingSetting, match=f"{variable} is not set"):
        build(runtime)


def test_a_bulk_queue_that_is_not_a_url_is_refused() -> None:
    settings = Settings.from_environment({**EVERYTHING, "BULK_AWARD_QUEUE_URL": "bulk"})
    runtime = Runtime(settings, service=None)  # type: ignore[arg-type]
    with pytest.raises(MissingSetting, match="must be the bulk-award queue's URL"):
        _ = runtime.bulk_queue
