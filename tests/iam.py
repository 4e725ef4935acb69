"""What each function's IAM policy in template.yaml grants on the table, and what a function
actually calls (recorded with botocore hooks), so a missing permission fails a test rather
than a deployment."""

from collections import defaultdict
from typing import Any

from local.template import load_template

# TransactWriteItems is authorised per item: Put needs PutItem, ConditionCheck needs
# ConditionCheckItem.
_TRANSACT = {
    "Put": "dynamodb:PutItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
}


def granted() -> dict[str, set[tuple[str, str]]]:
    """{function folder: {(action, resource)}}, resource "table" or "index/<name>"."""
    grants: dict[str, set[tuple[str, str]]] = {}
    for resource in load_template()["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        folder = resource["Properties"]["CodeUri"].rstrip("/").split("/")[-1]
        found: set[tuple[str, str]] = set()
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["Statement"]:
                actions = statement["Action"]
                targets = statement.get("Resource", [])
                for action in [actions] if isinstance(actions, str) else actions:
                    for target in [targets] if not isinstance(targets, list) else targets:
                        text = str(target)
                        where = (
                            "index/" + text.split("/index/")[1].rstrip("'}\"")
                            if ("/index/" in text)
                            else "table"
                        )
                        found.add((action, where))
        grants[folder] = found
    return grants


class PolicyUse:
    """The DynamoDB actions each function uses, recorded from a client's calls: register
    `record` on the client's `provide-client-params.dynamodb` event and set `function` to
    the function folder running."""

    def __init__(self) -> None:
        self.used: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self.function = ""

    def record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        where = f"index/{params['IndexName']}" if params.get("IndexName") else "table"
        if model.name == "TransactWriteItems":
            for item in params["TransactItems"]:
                (kind,) = item
                self.used[self.function].add((_TRANSACT[kind], "table"))
        else:
            self.used[self.function].add((f"dynamodb:{model.name}", where))

    def not_granted(self) -> dict[str, set[tuple[str, str]]]:
        """What a function called without its policy allowing it."""
        grants = granted()
        return {
            name: calls - grants[name] for name, calls in self.used.items() if calls - grants[name]
        }
