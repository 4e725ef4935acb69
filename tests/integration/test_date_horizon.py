"""Every date the product accepts lies where it can store, show and compute with it; and a
date stored however it got there (an older version, a hand edit) never makes a read fail."""

from typing import Any

import pytest

from crm_points.api_models import CustomerPointsResponse, TransactionHistoryResponse
from crm_points.config import PointsConfig
from crm_points.dynamo import from_item, to_item
from crm_points.ledger_store import customer_pk
from local.cli import balance_text, history_text
from tests.api import call
from tests.conftest import request

LAST_MOMENT = "9999-12-31T23:59:59.999Z"


def rewrite_state(dynamodb: Any, table_name: str, customer_id: str, **lot: str) -> None:
    """Set fields of the account's first lot as an older version might have stored them."""
    key = to_item({"PK": customer_pk(customer_id), "SK": "STATE"})
    values = from_item(dynamodb.get_item(TableName=table_name, Key=key)["Item"])
    values["lots"][0].update(lot)
    dynamodb.put_item(TableName=table_name, Item=to_item(values))


@pytest.mark.parametrize(
    "lot",
    [
        {"expiresAt": LAST_MOMENT},
        {"expiresAt": LAST_MOMENT, "remindedFor": LAST_MOMENT},
        {"earnedAt": "0001-01-01T00:00:00.000Z"},
    ],
)
def test_no_stored_date_makes_a_read_fail(
    lambda_env, service, dynamodb, table_name, customer_id, lot
):
    service.award(request(), customer_id=customer_id, amount=10, reason="Setup points")
    rewrite_state(dynamodb, table_name, customer_id, **lot)
    summary = call("GET", f"/api/crm/customers/{customer_id}/points")
    assert summary.status == 200, summary.body
    assert summary.body["currentBalance"] == 10
    history = call("GET", f"/api/crm/customers/{customer_id}/points/transactions")
    assert history.status == 200, history.body
    assert "Customer" in balance_text(
        CustomerPointsResponse.model_validate(summary.body), PointsConfig()
    )
    assert "Customer" in history_text(TransactionHistoryResponse.model_validate(history.body), 20)
