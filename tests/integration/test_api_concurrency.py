"""Concurrent requests through the real handlers, each in its own process as separate Lambda
execution environments would be, on DynamoDB Local."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from crm_points.runtime import runtime
from tests.api import call

REQUESTS = 20
_start: Any = None


def _environment(start: Any) -> None:
    """Each worker is a fresh execution environment: its own clients, started together."""
    global _start
    _start = start
    runtime.cache_clear()


def _redeem(customer_id: str) -> tuple[int, str | None]:
    _start.wait()
    answer = call(
        "POST",
        "/api/crm/points/redeem",
        body={"customerId": customer_id, "amount": 100, "reason": "Checkout"},
    )
    return answer.status, answer.code


def test_twenty_concurrent_redeems_over_a_balance_for_ten(lambda_env, customer_id):
    funded = call(
        "POST",
        "/api/crm/points/award",
        body={"customerId": customer_id, "amount": 1_000, "reason": "Ten of them"},
    )
    assert funded.status == 201
    context = multiprocessing.get_context("fork")
    start = context.Barrier(REQUESTS)
    with ProcessPoolExecutor(
        REQUESTS, mp_context=context, initializer=_environment, initargs=(start,)
    ) as pool:
        outcomes = list(pool.map(_redeem, [customer_id] * REQUESTS))

    assert outcomes.count((201, None)) == 10
    refused = [outcome for outcome in outcomes if outcome != (201, None)]
    assert {status for status, _ in refused} == {409}
    assert {code for _, code in refused} <= {"INSUFFICIENT_POINTS", "CONFLICT"}
    summary = call("GET", f"/api/crm/customers/{customer_id}/points").body
    assert summary["currentBalance"] == 0
    history = call(
        "GET", f"/api/crm/customers/{customer_id}/points/transactions", query={"limit": "100"}
    ).body["transactions"]
    assert [entry["type"] for entry in history].count("REDEEM") == 10
    assert [entry["balanceAfter"] for entry in reversed(history)] == list(range(1_000, -1, -100))
