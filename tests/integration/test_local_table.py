"""The local table follows template.yaml, also when `.local/` kept an older one."""

import uuid

from local.template import create_table, recreate_table, schema_differs, table_definition


def test_a_table_with_other_indexes_is_noticed_and_rebuilt(dynamodb):
    name = f"old-{uuid.uuid4().hex[:8]}"
    older = table_definition()
    older["GlobalSecondaryIndexes"] = [
        {**index, "IndexName": f"Old{index['IndexName']}"}
        for index in older["GlobalSecondaryIndexes"]
    ]
    dynamodb.create_table(TableName=name, **older)
    assert schema_differs(dynamodb, name)
    recreate_table(dynamodb, name)
    assert not schema_differs(dynamodb, name)


def test_a_table_made_from_the_template_matches_it(dynamodb):
    name = f"new-{uuid.uuid4().hex[:8]}"
    assert create_table(dynamodb, name)
    assert not create_table(dynamodb, name)
    assert not schema_differs(dynamodb, name)
