"""Each function's IAM policy in template.yaml allows every DynamoDB call its handler makes,
so a missing permission fails here rather than in AWS."""

from typing import Any

import pytest

from crm_points.runtime import runtime
from tests import api
from tests.iam import PolicyUse
from tests.integration.test_api_permissions import CASES

pytestmark = pytest.mark.usefixtures("bulk_award_queue", "export_destinations")


def test_every_call_of_every_route_is_allowed_by_its_policy(lambda_env, world, monkeypatch):
    use = PolicyUse()
    client = runtime().service.store.client
    client.meta.events.register("provide-client-params.dynamodb", use.record)
    original = api.handler

    def tracking(function: str) -> Any:
        use.function = function
        return original(function)

    monkeypatch.setattr(api, "handler", tracking)
    try:
        for make, _, _ in CASES.values():
            method, path, body, query = make(world)
            api.call(method, path, role="ADMIN", user="policy-check", body=body, query=query)
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb", use.record)

    http_functions = {route.function for route in api.routes()}
    assert set(use.used) == http_functions, "every API function was exercised"
    assert use.not_granted() == {}
