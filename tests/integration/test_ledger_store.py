"""The ledger's movements on DynamoDB Local, through PointsService."""

from datetime import timedelta

import pytest

from crm_points.analytics_store import AnalyticsStore
from crm_points.errors import Conflict, IdempotencyKeyReused, InsufficientPoints, NotFound
from crm_points.records import TransactionType
from crm_points.validation import end_of_business_day
from tests.conftest import START, RequestCounter, request

DAY = timedelta(days=1)


def test_award_creates_the_account_and_a_lot(service, customer_id):
    result = service.award(request(), customer_id=customer_id, amount=500, reason="Welcome")
    account = service.account(customer_id)
    assert result.current_balance == 500
    assert [e.type for e in result.transactions] == [TransactionType.AWARD]
    assert account.lifetime_earned == 500
    assert [lot.remaining_points for lot in account.lots] == [500]
    assert account.lots[0].expires_at == end_of_business_day(START + timedelta(days=365))


def test_redeem_consumes_soonest_expiring_lot_first(service, customer_id):
    late = service.award(
        request(),
        customer_id=customer_id,
        amount=300,
        reason="Late lot",
        expiry_date=START + timedelta(days=200),
    )
    soon = service.award(
        request(),
        customer_id=customer_id,
        amount=200,
        reason="Soon lot",
        expiry_date=START + timedelta(days=20),
    )
    result = service.redeem(request(), customer_id=customer_id, amount=250, reason="Checkout")
    allocations = [(a.point_batch_id, a.points) for a in result.transactions[0].allocations]
    assert allocations == [
        (soon.transactions[0].point_batch_id, 200),
        (late.transactions[0].point_batch_id, 50),
    ]
    assert result.current_balance == 250


def test_redeem_never_overdraws_and_writes_nothing(service, customer_id, requests):
    service.award(request(), customer_id=customer_id, amount=100, reason="Some points")
    before = service.account(customer_id)
    requests.reset()
    with pytest.raises(InsufficientPoints):
        service.redeem(request(), customer_id=customer_id, amount=101, reason="Too much")
    assert "TransactWriteItems" not in requests.calls
    assert service.account(customer_id) == before


def test_redeem_for_unknown_customer_is_not_found(service, customer_id):
    with pytest.raises(NotFound):
        service.redeem(request(), customer_id=customer_id, amount=1, reason="Nobody")


def test_replay_answers_the_first_response_in_one_transaction(service, customer_id, requests):
    first_request = request(key="same-key")
    first = service.award(first_request, customer_id=f"{customer_id}", amount=10, reason="Once")
    requests.reset()
    again = service.award(
        request(key="same-key"), customer_id=customer_id, amount=10, reason="Once"
    )
    assert again.replayed
    assert again.transactions == first.transactions
    # The replay is answered from the cancelled transaction's reasons: no extra read.
    assert requests.calls == {"Query": 1, "TransactWriteItems": 1}
    assert service.account(customer_id).current_balance == 10


def test_reused_key_with_another_payload_is_refused(service, customer_id):
    service.award(request(key="reused"), customer_id=customer_id, amount=10, reason="First")
    with pytest.raises(IdempotencyKeyReused):
        service.award(request(key="reused"), customer_id=customer_id, amount=11, reason="First")
    assert service.account(customer_id).current_balance == 10


def test_replay_after_the_balance_changed_still_answers_as_before(service, customer_id):
    service.award(request(), customer_id=customer_id, amount=100, reason="Points")
    first = service.redeem(
        request(key="redeem-1"), customer_id=customer_id, amount=100, reason="All of it"
    )
    again = service.redeem(
        request(key="redeem-1"), customer_id=customer_id, amount=100, reason="All of it"
    )
    assert again.replayed
    assert again.transactions == first.transactions


def test_deduct_with_allow_negative_creates_a_debt_settled_by_the_next_credit(service, customer_id):
    service.award(request(), customer_id=customer_id, amount=100, reason="Points")
    service.deduct(
        request(), customer_id=customer_id, amount=300, reason="Fraud", allow_negative=True
    )
    assert service.account(customer_id).current_balance == -200
    result = service.award(request(), customer_id=customer_id, amount=500, reason="Goodwill")
    assert result.transactions[0].settled_debt == 200
    account = service.account(customer_id)
    assert account.current_balance == 300
    assert [lot.remaining_points for lot in account.lots] == [300]


def test_expiry_then_recovery_once(service, customer_id):
    service.award(
        request(),
        customer_id=customer_id,
        amount=400,
        reason="Points",
        expiry_date=START + timedelta(days=10),
    )
    expired = service.expire(
        customer_id=customer_id, now=START + timedelta(days=11), request_id="run-1"
    )
    assert expired is not None
    entry = expired.transactions[0]
    assert (entry.type, entry.points, expired.current_balance) == (TransactionType.EXPIRE, -400, 0)
    later = START + timedelta(days=12)
    recovered = service.recover_expired(
        request(now=later),
        transaction_id=entry.transaction_id,
        reason="Customer complaint",
        new_expiry_date=later + timedelta(days=30),
    )
    assert recovered.current_balance == 400
    account = service.account(customer_id)
    assert (account.lifetime_expired, account.lifetime_earned) == (0, 400)
    with pytest.raises(Conflict):
        service.recover_expired(
            request(now=later),
            transaction_id=entry.transaction_id,
            reason="Again",
            new_expiry_date=later + timedelta(days=30),
        )


def test_repeated_expiry_run_changes_nothing(service, customer_id, requests):
    service.award(
        request(),
        customer_id=customer_id,
        amount=50,
        reason="Points",
        expiry_date=START + timedelta(days=1),
    )
    run_time = START + timedelta(days=2)
    first = service.expire(customer_id=customer_id, now=run_time, request_id="run")
    second = service.expire(customer_id=customer_id, now=run_time, request_id="run")
    assert first is not None
    assert second is not None
    assert second.replayed
    assert second.transactions == first.transactions
    later = service.expire(
        customer_id=customer_id, now=run_time + timedelta(hours=1), request_id="run"
    )
    assert later is None
    assert service.account(customer_id).entry_count == 2


def test_extend_expiry_moves_one_lot_and_audits_it(service, customer_id):
    award = service.award(request(), customer_id=customer_id, amount=70, reason="Points")
    lot_id = award.transactions[0].point_batch_id
    assert lot_id is not None
    new_date = START + timedelta(days=500)
    result = service.extend_expiry(
        request(), point_batch_id=lot_id, new_expiry_date=new_date, reason="Loyal customer"
    )
    entry = result.transactions[0]
    assert (entry.type, entry.points, entry.new_expiry_date) == (
        TransactionType.EXPIRY_EXTENDED,
        0,
        end_of_business_day(new_date),
    )
    assert service.account(customer_id).lots[0].expires_at == end_of_business_day(new_date)


def test_booking_earns_once_and_reversal_returns_redeemed_points(service, customer_id):
    completed = START + timedelta(days=1)
    earn = service.complete_booking(
        request(now=completed),
        customer_id=customer_id,
        booking_id="bk-1",
        completed_at=completed,
        amount_cents=123_456,
    )
    assert earn.transactions[0].points == 1234
    again = service.complete_booking(
        request(now=completed),
        customer_id=customer_id,
        booking_id="bk-1",
        completed_at=completed,
        amount_cents=123_456,
    )
    assert again.replayed
    service.redeem(
        request(), customer_id=customer_id, amount=1000, reason="Checkout", booking_id="bk-2"
    )
    service.reverse_booking(
        request(), customer_id=customer_id, booking_id="bk-1", reason="Cancelled"
    )
    account = service.account(customer_id)
    # 1234 earned, 1000 redeemed, then the earn reversed: balance -1000.
    assert account.current_balance == -1000
    assert account.lifetime_earned == 0
    reversal = service.reverse_booking(
        request(), customer_id=customer_id, booking_id="bk-2", reason="Cancelled"
    )
    assert reversal.transactions[0].points == 1000
    assert service.account(customer_id).current_balance == 0


def test_booking_cancelled_before_completion_earns_nothing(service, customer_id):
    service.award(request(), customer_id=customer_id, amount=1, reason="Account")
    service.reverse_booking(
        request(), customer_id=customer_id, booking_id="bk-early", reason="Cancelled"
    )
    with pytest.raises(Conflict):
        service.complete_booking(
            request(),
            customer_id=customer_id,
            booking_id="bk-early",
            completed_at=START,
            amount_cents=10_000,
        )


def test_one_transaction_per_write(service, customer_id, requests: RequestCounter):
    service.award(request(), customer_id=customer_id, amount=10, reason="Points")
    assert requests.calls == {"Query": 1, "TransactWriteItems": 1}


def test_a_redemption_across_150_lots_is_one_transaction(service, customer_id, requests):
    """More lots than one transaction could hold as items: still one TransactWriteItems."""
    for day in range(150):
        service.award(
            request(),
            customer_id=customer_id,
            amount=2,
            reason="Many lots",
            expiry_date=START + timedelta(days=10 + day),
        )
    requests.reset()
    result = service.redeem(request(), customer_id=customer_id, amount=299, reason="All")
    assert requests.calls == {"Query": 1, "TransactWriteItems": 1}
    assert len(result.transactions[0].allocations) == 150
    account = service.account(customer_id)
    assert (account.current_balance, len(account.lots)) == (1, 1)


def test_a_transaction_is_found_by_id_among_the_items_that_name_it(service, customer_id, store):
    """The analytics marker, an approval and a bulk row may carry the id too; the entry is
    the one in the customer's ledger."""
    service.award(
        request(), customer_id=customer_id, amount=100, reason="Due", expiry_date=START + DAY
    )
    expired = service.expire(customer_id=customer_id, now=START + 2 * DAY, request_id="run")
    assert expired is not None
    expire_id = expired.transactions[0].transaction_id
    AnalyticsStore(store.client, store.table).count(expired.transactions[0])
    store.client.put_item(
        TableName=store.table,
        Item={
            "PK": {"S": f"APPROVAL#{expire_id}"},
            "SK": {"S": "APPROVAL"},
            "transactionId": {"S": expire_id},
        },
    )
    assert store.locate_transaction(expire_id) == (customer_id, "EXPIRE")
