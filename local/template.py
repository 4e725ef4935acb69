"""Read the deployed resources' definitions from template.yaml: the one copy of the schema.

cfn-lint's loader (`cfnlint.decode.cfn_yaml`) reads the same short-form tags but is not used:
importing it imports all of cfn-lint (about two seconds more for every process that reads
the template: `make run`, each test session), and it writes `!GetAtt A.B` as
`{"Fn::GetAtt": ["A", "B"]}`, where the tests that read the template expect the short
form's `{"Fn::GetAtt": "A.B"}` (the local stack itself takes either).
"""

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref, !If, …) kept as {"Fn": value}."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}")
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml as plain data."""
    with path.open() as source:
        data: dict[str, Any] = yaml.load(source, Loader=_CloudFormationLoader)  # noqa: S506
    return data


def table_definition(template: dict[str, Any] | None = None, stream: bool = True) -> dict[str, Any]:
    """CreateTable arguments for the points table, from its resource in template.yaml.

    Only the properties that shape the data are taken (keys, attributes, indexes, billing,
    stream); deletion protection, PITR and encryption are the deployed table's concerns.
    Without `stream`, the table has no change stream: for tests that never read one, since
    DynamoDB Local's writes slow down as the stream records of its tables pile up.
    """
    resource = (template or load_template())["Resources"]["PointsTable"]["Properties"]
    definition: dict[str, Any] = {
        "KeySchema": resource["KeySchema"],
        "AttributeDefinitions": resource["AttributeDefinitions"],
        "BillingMode": resource["BillingMode"],
    }
    if stream:
        definition["StreamSpecification"] = {
            "StreamEnabled": True,
            **resource["StreamSpecification"],
        }
    if resource.get("GlobalSecondaryIndexes"):
        definition["GlobalSecondaryIndexes"] = resource["GlobalSecondaryIndexes"]
    return definition


def create_table(dynamodb: Any, table_name: str, stream: bool = True) -> bool:
    """Create the points table if it does not exist; True when it was created now."""
    existing = dynamodb.list_tables()["TableNames"]
    if table_name in existing:
        return False
    dynamodb.create_table(TableName=table_name, **table_definition(stream=stream))
    dynamodb.get_waiter("table_exists").wait(TableName=table_name)
    return True


def _shape(key_schema: list[dict[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((key["AttributeName"], key["KeyType"]) for key in key_schema)


def schema_differs(dynamodb: Any, table_name: str) -> bool:
    """Whether an existing table's keys or indexes are not those of template.yaml now."""
    table = dynamodb.describe_table(TableName=table_name)["Table"]
    wanted = table_definition()

    def indexes(found: list[dict[str, Any]]) -> dict[str, Any]:
        return {index["IndexName"]: _shape(index["KeySchema"]) for index in found}

    return _shape(table["KeySchema"]) != _shape(wanted["KeySchema"]) or indexes(
        table.get("GlobalSecondaryIndexes", [])
    ) != indexes(wanted.get("GlobalSecondaryIndexes", []))


def recreate_table(dynamodb: Any, table_name: str) -> None:
    """Drop a local table and create it again from template.yaml (its data is lost)."""
    dynamodb.delete_table(TableName=table_name)
    dynamodb.get_waiter("table_not_exists").wait(TableName=table_name)
    create_table(dynamodb, table_name)
