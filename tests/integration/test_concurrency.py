"""Concurrent writers on one account (SPEC §2.10) and one booking delivered many times at
once (§2.9), on DynamoDB Local."""

import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from crm_points.config import PointsConfig
from crm_points.errors import Conflict, InsufficientPoints
from crm_points.ledger_service import PointsService
from crm_points.ledger_store import LedgerStore
from crm_points.records import PostingResult, TransactionType
from local.dynamodb_local import client
from tests.conftest import START, request
from tests.invariants import all_entries

THREADS = 16
OPERATIONS_PER_THREAD = 12


def make_service(endpoint: str, table_name: str) -> PointsService:
    """A service with its own client and real back-off, as one Lambda instance would have."""
    return PointsService(LedgerStore(client(endpoint), table_name), PointsConfig())


def test_mixed_writers_equal_a_serial_replay(dynamodb_endpoint, table_name, customer_id):
    setup = make_service(dynamodb_endpoint, table_name)
    setup.award(request(), customer_id=customer_id, amount=5_000, reason="Opening balance")
    succeeded: list[PostingResult] = []
    refused: list[Exception] = []
    lock = threading.Lock()

    def writer(seed: int) -> None:
        service = make_service(dynamodb_endpoint, table_name)
        chooser = random.Random(seed)
        for step in range(OPERATIONS_PER_THREAD):
            operation = chooser.choice(["redeem", "award", "deduct"])
            amount = chooser.randint(1, 900)
            now = START + timedelta(minutes=seed * 100 + step)
            try:
                if operation == "award":
                    result = service.award(
                        request(now),
                        customer_id=customer_id,
                        amount=amount,
                        reason="Concurrent award",
                    )
                elif operation == "redeem":
                    result = service.redeem(
                        request(now),
                        customer_id=customer_id,
                        amount=amount,
                        reason="Concurrent redeem",
                    )
                else:
                    result = service.deduct(
                        request(now),
                        customer_id=customer_id,
                        amount=amount,
                        reason="Concurrent deduct",
                    )
            except (Conflict, InsufficientPoints) as error:
                with lock:
                    refused.append(error)
                continue
            with lock:
                succeeded.append(result)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(writer, range(THREADS)))

    account = setup.account(customer_id)
    entries = all_entries(setup.store, customer_id)
    committed = {e.transaction_id for result in succeeded for e in result.transactions}
    # Every success is in the ledger exactly once, and the ledger holds nothing else.
    assert {e.transaction_id for e in entries[1:]} == committed
    assert len(entries) == 1 + len(succeeded)
    # A serial replay of the entries, in commit order, gives the account as stored.
    balance = earned = redeemed = 0
    for entry in entries:
        balance += entry.points
        assert balance >= 0, "no overdraw without allowNegative"
        assert entry.balance_after == balance
        if entry.type == TransactionType.AWARD:
            earned += entry.points
        else:
            redeemed -= entry.points
    assert (account.current_balance, account.lifetime_earned, account.lifetime_redeemed) == (
        balance,
        earned,
        redeemed,
    )
    assert sum(lot.remaining_points for lot in account.lots) == balance
    # Most writers get through; the rest were refused cleanly, never half-written.
    assert len(succeeded) + len(refused) == THREADS * OPERATIONS_PER_THREAD
    assert len(succeeded) > THREADS * OPERATIONS_PER_THREAD // 2


def test_one_booking_delivered_ten_times_at_once_earns_once(
    dynamodb_endpoint, table_name, customer_id
):
    booking_id = f"bk-{uuid.uuid4().hex[:8]}"
    barrier = threading.Barrier(10)

    def deliver(_: int) -> PostingResult:
        service = make_service(dynamodb_endpoint, table_name)
        barrier.wait()
        return service.complete_booking(
            request(),
            customer_id=customer_id,
            booking_id=booking_id,
            completed_at=START,
            amount_cents=250_000,
        )

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(deliver, range(10)))

    assert sum(not result.replayed for result in results) == 1
    assert len({result.transactions[0].transaction_id for result in results}) == 1
    setup = make_service(dynamodb_endpoint, table_name)
    account = setup.account(customer_id)
    assert (account.current_balance, account.entry_count) == (2_500, 1)


def test_twenty_concurrent_redeems_over_a_balance_for_ten(
    dynamodb_endpoint, table_name, customer_id
):
    setup = make_service(dynamodb_endpoint, table_name)
    setup.award(request(), customer_id=customer_id, amount=1_000, reason="Ten redemptions")
    barrier = threading.Barrier(20)

    def redeem(_: int) -> str:
        service = make_service(dynamodb_endpoint, table_name)
        barrier.wait()
        try:
            service.redeem(request(), customer_id=customer_id, amount=100, reason="Checkout")
        except InsufficientPoints:
            return "insufficient"
        except Conflict:
            return "conflict"
        return "ok"

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(redeem, range(20)))

    account = setup.account(customer_id)
    assert outcomes.count("ok") == 10
    assert account.current_balance == 0
    assert account.entry_count == 11


def test_store_is_shared_safely_between_threads(dynamodb_endpoint, table_name, customer_id):
    """One client across threads, as a warm Lambda's module-level client would be."""
    service = make_service(dynamodb_endpoint, table_name)
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda n: service.award(
                    request(), customer_id=customer_id, amount=n + 1, reason="Shared client"
                ),
                range(24),
            )
        )
    assert service.account(customer_id).current_balance == sum(range(1, 25))
