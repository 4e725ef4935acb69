"""What template.yaml promises for restoring the points table (docs/operations.md, "Restoring
the table"): by default the table is the one it always was; a new TableName and an export in S3
make CloudFormation create the table from the export and keep the old one; and the name is
spelled in one place, so every function, policy, alarm and the stream's mapping follow it."""

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from local.template import load_template, table_definition

DEFAULT_NAME = "crm-points-${Environment}"
EXPORT_FOLDER = "AWSDynamoDB/01234567890123-a1b2c3d4/data/"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def evaluate(template: dict[str, Any], value: Any, parameters: dict[str, str]) -> Any:
    """`value` as CloudFormation would resolve it with `parameters` (the rest at their
    defaults), for the few functions the table's own properties use; a property that resolves
    to AWS::NoValue is dropped."""
    given = {
        name: parameters.get(name, declared.get("Default"))
        for name, declared in template["Parameters"].items()
    }

    def condition(name: str) -> bool:
        return bool(resolve(template["Conditions"][name]))

    def resolve(item: Any) -> Any:
        if isinstance(item, list):
            return [resolve(element) for element in item]
        if not isinstance(item, dict):
            return item
        if len(item) == 1:
            (key, argument), *_ = item.items()
            if key == "Ref":
                return None if argument == "AWS::NoValue" else given[argument]
            if key == "Fn::Sub":
                return re.sub(r"\$\{([^}]+)\}", lambda found: given[found.group(1)], argument)
            if key == "Fn::If":
                name, when_true, when_false = argument
                return resolve(when_true if condition(name) else when_false)
            if key == "Fn::Equals":
                left, right = resolve(argument)
                return left == right
            if key == "Fn::Not":
                (inner,) = resolve(argument)
                return not inner
            assert not key.startswith("Fn::"), f"{key} is not evaluated here"
        resolved = {key: resolve(element) for key, element in item.items()}
        return {key: element for key, element in resolved.items() if element is not None}

    return resolve(value)


def table_properties(template: dict[str, Any], **parameters: str) -> dict[str, Any]:
    properties = template["Resources"]["PointsTable"]["Properties"]
    resolved: dict[str, Any] = evaluate(template, properties, parameters)
    return resolved


def test_by_default_the_table_keeps_its_name_and_is_created_empty(template):
    for environment in ("dev", "prod"):
        properties = table_properties(template, Environment=environment)
        assert properties["TableName"] == f"crm-points-{environment}"
        assert "ImportSourceSpecification" not in properties


def test_a_new_name_and_an_export_create_the_table_from_the_export(template):
    properties = table_properties(
        template,
        Environment="prod",
        TableName="crm-points-prod-r20270101",
        RestoreFromExportBucket="crm-points-restores",
        RestoreFromExportPrefix=EXPORT_FOLDER,
    )
    assert properties["TableName"] == "crm-points-prod-r20270101"
    assert properties["ImportSourceSpecification"] == {
        "S3BucketSource": {"S3Bucket": "crm-points-restores", "S3KeyPrefix": EXPORT_FOLDER},
        "InputFormat": "DYNAMODB_JSON",
        "InputCompressionType": "GZIP",
    }
    # Everything else the table is made with is the template's, as for a table made empty.
    default = table_properties(template, Environment="prod")
    for name in ("StreamSpecification", "TimeToLiveSpecification", "GlobalSecondaryIndexes"):
        assert properties[name] == default[name], name
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["DeletionProtectionEnabled"] is True
    assert properties["SSESpecification"] == {"SSEEnabled": True}


def test_the_import_hangs_on_the_bucket_parameter_alone(template):
    spec = template["Resources"]["PointsTable"]["Properties"]["ImportSourceSpecification"]
    condition, _, otherwise = spec["Fn::If"]
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert template["Conditions"][condition] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "RestoreFromExportBucket"}, ""]}]
    }
    for name in ("TableName", "RestoreFromExportBucket", "RestoreFromExportPrefix"):
        assert template["Parameters"][name]["Default"] == "", name


def test_the_old_table_outlives_a_replacement_and_the_stack(template):
    table = template["Resources"]["PointsTable"]
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


def allowed(template: dict[str, Any], parameter: str, value: str) -> bool:
    pattern = template["Parameters"][parameter]["AllowedPattern"]
    return re.fullmatch(pattern, value) is not None


def test_the_parameters_take_a_table_name_and_an_exports_data_folder_only(template):
    for name in ("", "crm-points-prod-r20270101", "crm_points.prod"):
        assert allowed(template, "TableName", name), name
    for name in ("ab", "crm points", "crm-points/prod", "x" * 256):
        assert not allowed(template, "TableName", name), name
    for folder in ("", EXPORT_FOLDER, f"restores/2027-01-01/{EXPORT_FOLDER}"):
        assert allowed(template, "RestoreFromExportPrefix", folder), folder
    # The export's folder holds manifests beside the data: imported, they fail the import.
    for folder in ("AWSDynamoDB/01234567890123-a1b2c3d4/", "restores/", "data/"):
        assert not allowed(template, "RestoreFromExportPrefix", folder), folder
    assert template["Rules"]["RestoreFromExportNamesBucketAndFolder"]


def walk(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) in the template, containers included."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, (*path, index))


def test_nothing_names_the_table_but_its_own_property(template):
    one_place = ("Resources", "PointsTable", "Properties", "TableName")
    table = {"Ref": "PointsTable"}
    for path, value in walk(template):
        if path[: len(one_place)] == one_place:
            continue
        if isinstance(value, dict) and value.get("Name") == "TableName":
            assert value.get("Value") == table, path  # an alarm's dimension
        if path and path[-1] == "TABLE_NAME":
            assert value == table, path
        if isinstance(value, str):
            # A table's ARN is taken from `!GetAtt PointsTable.Arn`, never put together.
            assert ":table/" not in value, path
            if DEFAULT_NAME in value:
                # Other resources share the stack's naming (the user pool and its domain, the bus):
                # allowed as their own name only, never where a table would be meant.
                resources, resource, properties, key, *_ = path
                assert (resources, properties) == ("Resources", "Properties"), path
                assert template["Resources"][resource]["Type"] != "AWS::DynamoDB::Table"
                assert key in {"UserPoolName", "Name", "Domain"}, path
                assert len(path) <= 5, path
    (dashboard,) = (
        resource["Properties"]["DashboardBody"]["Fn::Sub"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Dashboard"
    )
    widgets = json.loads(dashboard)["widgets"]
    for widget in widgets:
        for metric in widget["properties"].get("metrics", []):
            for index, item in enumerate(metric[:-1]):
                if item == "TableName":
                    assert metric[index + 1] in {"${PointsTable}", "."}, metric


def test_the_local_table_needs_no_parameter_or_condition_resolved(template):
    # The local stack names its own table and makes it from the shape alone.
    definition = table_definition(template)
    assert not {"TableName", "ImportSourceSpecification"} & definition.keys()
    for path, value in walk(definition):
        assert not (isinstance(value, dict) and any(key.startswith("Fn::") for key in value))
        assert not (isinstance(value, dict) and "Ref" in value), path
