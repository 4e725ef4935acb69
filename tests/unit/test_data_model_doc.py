"""docs/data-model.md and template.yaml describe the same table."""

import re
from pathlib import Path

from local.template import load_template

ROOT = Path(__file__).resolve().parents[2]


def test_every_index_is_documented_with_its_keys():
    table = load_template()["Resources"]["PointsTable"]["Properties"]
    doc = (ROOT / "docs" / "data-model.md").read_text()
    rows = {
        match.group(1): match.group(0)
        for match in re.finditer(r"^\| `(\w+Index)` \|.*$", doc, flags=re.MULTILINE)
    }
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert set(rows) == set(indexes)
    for name, index in indexes.items():
        cells = rows[name].split("|")
        for key in index["KeySchema"]:
            column = 2 if key["KeyType"] == "HASH" else 3
            assert f"`{key['AttributeName']}`" in cells[column], (name, key)


def test_every_key_attribute_of_the_template_is_in_the_doc():
    table = load_template()["Resources"]["PointsTable"]["Properties"]
    doc = (ROOT / "docs" / "data-model.md").read_text()
    for attribute in table["AttributeDefinitions"]:
        assert f"`{attribute['AttributeName']}`" in doc
