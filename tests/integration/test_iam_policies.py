"""Each function's IAM policy in template.yaml allows every DynamoDB call its handler makes,
so a missing permission fails here rather than in AWS."""

from collections import defaultdict
from typing import Any

from crm_points.runtime import runtime
from local.template import load_template
from tests import api
from tests.integration.test_api_permissions import CASES

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
                targets = statement["Resource"]
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


def test_every_call_of_every_route_is_allowed_by_its_policy(lambda_env, world, monkeypatch):
    used: dict[str, set[tuple[str, str]]] = defaultdict(set)
    current = {"function": ""}

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        where = f"index/{params['IndexName']}" if params.get("IndexName") else "table"
        if model.name == "TransactWriteItems":
            for item in params["TransactItems"]:
                (kind,) = item
                used[current["function"]].add((_TRANSACT[kind], "table"))
        else:
            used[current["function"]].add((f"dynamodb:{model.name}", where))

    client = runtime().service.store.client
    client.meta.events.register("provide-client-params.dynamodb", record)
    original = api.handler

    def tracking(function: str) -> Any:
        current["function"] = function
        return original(function)

    monkeypatch.setattr(api, "handler", tracking)
    try:
        for make, _, _ in CASES.values():
            method, path, body, query = make(world)
            api.call(method, path, role="ADMIN", user="policy-check", body=body, query=query)
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb", record)

    grants = granted()
    http_functions = {route.function for route in api.routes()}
    assert set(used) == http_functions, "every API function was exercised"
    missing = {name: calls - grants[name] for name, calls in used.items() if calls - grants[name]}
    assert missing == {}
