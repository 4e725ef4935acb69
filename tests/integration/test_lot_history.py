"""GET /points/transactions/{transactionId} and GET /points/lots/{pointBatchId} through the
real handlers on DynamoDB Local: what a credit became, where a debit's points came from, a
lot's whole life, and the DynamoDB requests each answer costs."""

import json
from datetime import timedelta
from typing import Any

import pytest

from crm_points.ledger_service import PointsService
from crm_points.ledger_store import ENTRY_PAGE
from crm_points.records import Actor, LedgerEntry
from tests.api import ROOT, Answer, LambdaContext, call, handler
from tests.conftest import START, request

SYSTEM = Actor(user_id="system")


def explain(transaction_id: str, role: str = "SUPPORT_AGENT") -> Answer:
    return call("GET", f"/api/crm/points/transactions/{transaction_id}", role=role)


def lot(point_batch_id: str, **query: str) -> Answer:
    return call("GET", f"/api/crm/points/lots/{point_batch_id}", query=query or None)


def award(service: PointsService, customer_id: str, points: int, days: int) -> LedgerEntry:
    (entry,) = service.award(
        request(),
        customer_id=customer_id,
        amount=points,
        reason=f"Bonus of {points}",
        expiry_date=START + timedelta(days=days),
    ).transactions
    return entry


def events(body: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(event["kind"], event["transactionId"], event["points"]) for event in body["events"]]


def test_a_credit_spent_across_three_debits(lambda_env, service, customer_id):
    credit = award(service, customer_id, 1_000, 200)
    assert credit.point_batch_id is not None
    debits = [
        service.redeem(request(), customer_id=customer_id, amount=300, reason="Checkout"),
        service.deduct(request(), customer_id=customer_id, amount=200, reason="Correction"),
        service.redeem(request(), customer_id=customer_id, amount=100, reason="Upgrade"),
    ]
    debit_ids = [posting.transactions[0].transaction_id for posting in debits]

    lambda_env.reset()
    answer = explain(credit.transaction_id)
    assert answer.status == 200, answer.body
    # The entry's place, the entry and the account at once, the lot's credits, its entries.
    assert lambda_env.calls == {"Query": 4, "GetItem": 1}
    body = answer.body
    assert body["transaction"]["transactionId"] == credit.transaction_id
    assert body["transaction"]["type"] == "AWARD"
    assert body["drawnFrom"] == []
    assert body["overdrawn"] == 0
    assert body["lot"]["lot"] == {
        "pointBatchId": credit.point_batch_id,
        "customerId": customer_id,
        "status": "ACTIVE",
        "remainingPoints": 400,
        "expiresAt": body["lot"]["events"][0]["expiresAt"],
        "earnedAt": "2026-01-15T09:00:00.000Z",
        "madeBy": credit.transaction_id,
        "endedBy": None,
        "expiredAt": None,
        "mergedInto": None,
        "recoveredBy": None,
    }
    assert events(body["lot"]) == [
        ("CREDIT", credit.transaction_id, 1_000),
        ("DRAW", debit_ids[0], -300),
        ("DRAW", debit_ids[1], -200),
        ("DRAW", debit_ids[2], -100),
    ]
    assert [event["type"] for event in body["lot"]["events"]] == [
        "AWARD",
        "REDEEM",
        "DEDUCT",
        "REDEEM",
    ]
    assert body["lot"]["nextCursor"] is None

    for debit_id, points, kind in zip(
        debit_ids, (300, 200, 100), ("REDEEM", "DEDUCT", "REDEEM"), strict=True
    ):
        lambda_env.reset()
        answer = explain(debit_id)
        assert answer.status == 200, answer.body
        # The entry's place, the entry and the account, the lot's credits, its entries.
        assert lambda_env.calls == {"Query": 4, "GetItem": 1}
        assert answer.body["transaction"]["type"] == kind
        assert answer.body["lot"] is None
        (drawn,) = answer.body["drawnFrom"]
        assert (drawn["pointBatchId"], drawn["points"]) == (credit.point_batch_id, points)
        assert drawn["lot"]["status"] == "ACTIVE"
        assert drawn["lot"]["earnedAt"] == "2026-01-15T09:00:00.000Z"
        assert drawn["lot"]["expiresAt"] == body["lot"]["lot"]["expiresAt"]
        assert [(c["transactionId"], c["reason"]) for c in drawn["credits"]] == [
            (credit.transaction_id, "Bonus of 1000")
        ]
        assert drawn["creditCount"] == 1

    lambda_env.reset()
    whole = lot(credit.point_batch_id)
    assert whole.status == 200
    assert lambda_env.calls == {"Query": 3}  # the lot's credits, the account, its entries
    assert events(whole.body) == events(body["lot"])
    assert whole.body["lot"] == body["lot"]["lot"]


def test_a_debit_across_five_lots(lambda_env, service, customer_id):
    credits = [award(service, customer_id, 100, days) for days in (20, 40, 60, 80, 100)]
    (debit,) = service.redeem(
        request(now=START + timedelta(days=1)),
        customer_id=customer_id,
        amount=450,
        reason="Holiday",
    ).transactions
    assert len(debit.allocations) == 5

    lambda_env.reset()
    answer = explain(debit.transaction_id)
    assert answer.status == 200, answer.body
    # Its place; the entry and the account; the five lots' credits at once; the entries.
    assert lambda_env.calls == {"Query": 8, "GetItem": 1}
    drawn = answer.body["drawnFrom"]
    assert [(d["pointBatchId"], d["points"]) for d in drawn] == [
        (credit.point_batch_id, points)
        for credit, points in zip(credits, (100, 100, 100, 100, 50), strict=True)
    ]
    assert [d["lot"]["status"] for d in drawn] == ["CONSUMED"] * 4 + ["ACTIVE"]
    assert [d["lot"]["endedBy"] for d in drawn] == [debit.transaction_id] * 4 + [None]
    assert drawn[4]["lot"]["remainingPoints"] == 50
    for lot_drawn, credit in zip(drawn, credits, strict=True):
        assert lot_drawn["lot"]["earnedAt"] == "2026-01-15T09:00:00.000Z"
        assert lot_drawn["lot"]["expiresAt"] == credit.model_dump(mode="json")["expires_at"]
        assert [
            (c["transactionId"], c["type"], c["description"]) for c in lot_drawn["credits"]
        ] == [(credit.transaction_id, "AWARD", "Bonus points: Bonus of 100")]
    assert answer.body["overdrawn"] == 0


def test_a_debit_beyond_the_lots_says_what_went_below_zero(lambda_env, service, customer_id):
    credit = award(service, customer_id, 100, 30)
    (debit,) = service.deduct(
        request(), customer_id=customer_id, amount=250, reason="Fraud", allow_negative=True
    ).transactions
    answer = explain(debit.transaction_id)
    assert answer.status == 200
    assert [(d["pointBatchId"], d["points"]) for d in answer.body["drawnFrom"]] == [
        (credit.point_batch_id, 100)
    ]
    assert answer.body["overdrawn"] == 150


def test_an_expired_lot_then_recovered(lambda_env, service, customer_id):
    credit = award(service, customer_id, 300, 1)
    assert credit.point_batch_id is not None
    service.redeem(request(), customer_id=customer_id, amount=100, reason="Checkout")
    expired = service.expire(
        customer_id=customer_id, now=START + timedelta(days=2), request_id="run"
    )
    assert expired is not None
    (expire,) = expired.transactions

    # Not recovered yet: the life ends at the expiry, and the read stops there.
    answer = lot(credit.point_batch_id)
    assert answer.body["lot"]["status"] == "EXPIRED"
    assert answer.body["lot"]["recoveredBy"] is None
    assert [kind for kind, _, _ in events(answer.body)] == ["CREDIT", "DRAW", "EXPIRY"]

    (recover,) = service.recover_expired(
        request(now=START + timedelta(days=3)),
        transaction_id=expire.transaction_id,
        reason="Customer complaint",
        new_expiry_date=START + timedelta(days=120),
    ).transactions

    lambda_env.reset()
    answer = lot(credit.point_batch_id)
    assert answer.status == 200
    assert lambda_env.calls == {"Query": 3}
    assert answer.body["lot"] == {
        "pointBatchId": credit.point_batch_id,
        "customerId": customer_id,
        "status": "EXPIRED",
        "remainingPoints": 0,
        "expiresAt": credit.model_dump(mode="json")["expires_at"],
        "earnedAt": "2026-01-15T09:00:00.000Z",
        "madeBy": credit.transaction_id,
        "endedBy": expire.transaction_id,
        "expiredAt": "2026-01-17T09:00:00.000Z",
        "mergedInto": None,
        "recoveredBy": recover.transaction_id,
    }
    assert [(kind, points) for kind, _, points in events(answer.body)] == [
        ("CREDIT", 300),
        ("DRAW", -100),
        ("EXPIRY", -200),
        ("RECOVERY", 200),
    ]
    assert answer.body["events"][-1]["recoveredInto"] == recover.point_batch_id

    # The EXPIRE drew from the lot; the RECOVER made a lot of its own, active.
    (drawn,) = explain(expire.transaction_id).body["drawnFrom"]
    assert (drawn["points"], drawn["lot"]["status"]) == (200, "EXPIRED")
    assert drawn["lot"]["expiredAt"] == "2026-01-17T09:00:00.000Z"
    recovered = explain(recover.transaction_id).body["lot"]
    assert (recovered["lot"]["status"], recovered["lot"]["remainingPoints"]) == ("ACTIVE", 200)
    assert events(recovered) == [("CREDIT", recover.transaction_id, 200)]


def test_an_extension(lambda_env, service, customer_id):
    credit = award(service, customer_id, 500, 30)
    assert credit.point_batch_id is not None
    (extension,) = service.extend_expiry(
        request(now=START + timedelta(days=1)),
        point_batch_id=credit.point_batch_id,
        new_expiry_date=START + timedelta(days=90),
        reason="Loyal customer",
    ).transactions

    answer = explain(extension.transaction_id)
    assert answer.status == 200
    assert answer.body["transaction"]["type"] == "EXPIRY_EXTENDED"
    body = answer.body["lot"]
    assert body["lot"]["pointBatchId"] == credit.point_batch_id
    assert body["lot"]["expiresAt"] == extension.model_dump(mode="json")["new_expiry_date"]
    (extended,) = body["events"]  # from the extension on
    assert extended["kind"] == "EXTENSION"
    assert extended["oldExpiryDate"] == credit.model_dump(mode="json")["expires_at"]
    assert extended["newExpiryDate"] == body["lot"]["expiresAt"]
    # Its lot's whole life goes on from the credit; the explanation's page is part of it.
    assert [kind for kind, _, _ in events(lot(credit.point_batch_id).body)] == [
        "CREDIT",
        "EXTENSION",
    ]


def test_a_merge_by_rolling_expiry(lambda_env, service, customer_id):
    # Two lots, the second with a day of its own; a booking rolls both to its day, where
    # they become one, and its points join them.
    first = award(service, customer_id, 100, 30)
    second = award(service, customer_id, 200, 60)
    (earn,) = service.complete_booking(
        request(now=START + timedelta(days=2), actor=SYSTEM),
        customer_id=customer_id,
        booking_id=f"{customer_id}-B1",
        completed_at=START + timedelta(days=2),
        amount_cents=30_000,
    ).transactions
    assert earn.point_batch_id == first.point_batch_id
    assert [(m.point_batch_id, m.merged_into) for m in earn.merged_lots] == [
        (second.point_batch_id, first.point_batch_id)
    ]
    assert second.point_batch_id is not None
    assert first.point_batch_id is not None

    merged = lot(second.point_batch_id).body
    assert merged["lot"]["status"] == "MERGED"
    assert merged["lot"]["mergedInto"] == first.point_batch_id
    assert merged["lot"]["endedBy"] == earn.transaction_id
    assert merged["lot"]["expiresAt"] == earn.model_dump(mode="json")["expires_at"]
    assert [(kind, points) for kind, _, points in events(merged)] == [
        ("CREDIT", 200),
        ("MERGED_OUT", -200),
    ]

    kept = lot(first.point_batch_id).body
    assert (kept["lot"]["status"], kept["lot"]["remainingPoints"]) == ("ACTIVE", 600)
    assert [(kind, points) for kind, _, points in events(kept)] == [
        ("CREDIT", 100),
        ("MERGED_IN", 200),
        ("CREDIT", 300),
    ]
    assert kept["events"][1]["mergedFrom"] == second.point_batch_id

    # The booking's EARN joined the kept lot: a debit from it names both lots it was made of.
    (debit,) = service.redeem(
        request(now=START + timedelta(days=3)), customer_id=customer_id, amount=50, reason="Buy"
    ).transactions
    (drawn,) = explain(debit.transaction_id).body["drawnFrom"]
    assert [c["transactionId"] for c in drawn["credits"]] == [
        first.transaction_id,
        earn.transaction_id,
    ]
    assert drawn["credits"][1]["bookingId"] == f"{customer_id}-B1"
    assert [(m["mergedFrom"], m["points"]) for m in drawn["mergedIn"]] == [
        (second.point_batch_id, 200)
    ]


def pages(lambda_env, point_batch_id: str, limit: int) -> tuple[list[Any], list[Any]]:
    """Every page of a lot's life: their bodies, and the DynamoDB calls of each."""
    bodies, calls = [], []
    cursor = None
    while True:
        lambda_env.reset()
        query = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        answer = lot(point_batch_id, **query)
        assert answer.status == 200, answer.body
        bodies.append(answer.body)
        calls.append(dict(lambda_env.calls))
        cursor = answer.body["nextCursor"]
        if cursor is None:
            return bodies, calls


def test_a_long_life_comes_a_page_at_a_time(lambda_env, service, customer_id):
    credit = award(service, customer_id, 70, 300)
    assert credit.point_batch_id is not None
    for _ in range(6):
        service.redeem(request(), customer_id=customer_id, amount=10, reason="Coffee")
    bodies, calls = pages(lambda_env, credit.point_batch_id, 3)
    assert [body["lot"]["remainingPoints"] for body in bodies] == [10, 10, 10]
    seen = [event for body in bodies for event in events(body)]
    assert [kind for kind, _, _ in seen] == ["CREDIT"] + ["DRAW"] * 6
    # The first page finds the lot by its credits; a later page of an active lot finds its
    # owner alone and reads from the entry the page starts at.
    assert calls == [{"Query": 3}, {"Query": 3}, {"Query": 3}]

    # Spent, it ended: each page reads from its first credit, to know how it ended.
    (last,) = service.redeem(
        request(), customer_id=customer_id, amount=10, reason="Coffee"
    ).transactions
    bodies, calls = pages(lambda_env, credit.point_batch_id, 3)
    assert [kind for body in bodies for kind, _, _ in events(body)] == ["CREDIT"] + ["DRAW"] * 7
    assert {(body["lot"]["status"], body["lot"]["endedBy"]) for body in bodies} == {
        ("CONSUMED", last.transaction_id)
    }
    assert calls == [{"Query": 3}, {"Query": 4}, {"Query": 4}]

    # A cursor is the lot's own: another lot's, or a made-up one, is refused.
    other = award(service, customer_id, 5, 10)
    assert other.point_batch_id is not None
    first_page = lot(credit.point_batch_id, limit="3").body["nextCursor"]
    for query in ({"cursor": first_page}, {"cursor": "not-a-cursor"}, {"limit": "0"}):
        refused = lot(other.point_batch_id, **query)
        assert (refused.status, refused.code) == (422, "VALIDATION_ERROR"), query


def test_a_page_may_begin_inside_an_entry(lambda_env, service, customer_id):
    # A rolling booking's EARN gives its lot two events (a lot merged in, then its credit):
    # a page of one event ends between them.
    first = award(service, customer_id, 100, 30)
    award(service, customer_id, 200, 60)
    service.complete_booking(
        request(now=START + timedelta(days=2), actor=SYSTEM),
        customer_id=customer_id,
        booking_id=f"{customer_id}-B1",
        completed_at=START + timedelta(days=2),
        amount_cents=30_000,
    )
    assert first.point_batch_id is not None
    bodies, _ = pages(lambda_env, first.point_batch_id, 1)
    assert [(kind, points) for body in bodies for kind, _, points in events(body)] == [
        ("CREDIT", 100),
        ("MERGED_IN", 200),
        ("CREDIT", 300),
    ]


def test_an_explained_credit_shows_a_first_page_and_the_lot_route_goes_on(
    lambda_env, service, customer_id
):
    from crm_points.lot_reads import EXPLAINED_EVENTS

    credit = award(service, customer_id, 100_000, 300)
    assert credit.point_batch_id is not None
    for _ in range(EXPLAINED_EVENTS + 5):
        service.redeem(request(), customer_id=customer_id, amount=1, reason="Coffee")
    lambda_env.reset()
    body = explain(credit.transaction_id).body["lot"]
    assert len(body["events"]) == EXPLAINED_EVENTS
    # The entries came in two reads: a first page, then a larger one, as many as needed
    # to know that more events follow the page.
    assert EXPLAINED_EVENTS + 1 > ENTRY_PAGE
    assert lambda_env.calls == {"Query": 3 + 2, "GetItem": 1}
    rest = lot(credit.point_batch_id, cursor=body["nextCursor"]).body
    assert len(rest["events"]) == 6  # the credit and 105 draws, less the first page
    assert rest["nextCursor"] is None


def test_an_unknown_id_is_404_and_a_malformed_one_422(lambda_env):
    for answer, field in (
        (explain("01KJ8Z3Q4W5E6R7T8Y9V0H1M2P"), "transactionId"),
        (lot("01KJ8Z3Q4W5E6R7T8Y9V0H1M2Q"), "pointBatchId"),
    ):
        assert (answer.status, answer.code) == (404, "NOT_FOUND")
        assert answer.body["error"]["details"][field].startswith("01KJ8Z3Q")
    for path in ("/api/crm/points/transactions/bad id!", "/api/crm/points/lots/bad id!"):
        answer = call("GET", path)
        assert (answer.status, answer.code) == (422, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    ("sample", "function", "parameter"),
    [
        ("get_transaction_explanation", "transaction_explain", "transactionId"),
        ("get_lot_history", "lot_history", "pointBatchId"),
    ],
)
def test_the_sample_events_reach_the_handlers(
    lambda_env, service, customer_id, sample, function, parameter
):
    credit = award(service, customer_id, 100, 30)
    assert credit.point_batch_id is not None
    wanted = credit.transaction_id if parameter == "transactionId" else credit.point_batch_id
    event: dict[str, Any] = json.loads((ROOT / "events" / f"{sample}.json").read_text())
    placeholder = event["pathParameters"][parameter]
    event["rawPath"] = event["rawPath"].replace(placeholder, wanted)
    event["requestContext"]["http"]["path"] = event["rawPath"]
    event["pathParameters"] = {parameter: wanted}
    response = handler(function).lambda_handler(event, LambdaContext())
    assert response["statusCode"] == 200, response["body"]
    body = json.loads(response["body"])
    summary = body["lot"]["lot"] if parameter == "transactionId" else body["lot"]
    assert summary["pointBatchId"] == credit.point_batch_id
