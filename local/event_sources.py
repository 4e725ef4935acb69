"""Everything that reaches the functions other than HTTP and schedules: the table's stream,
the SQS queues and the events the functions put on the buses, polled in a background thread
while the stack runs, and drained on demand (SPEC §11, `POST /local/drain`).

One pass relays the buses' events, reads every stream mapping to the stream's tip and empties
every consumed queue. A pass and a drain never overlap (one lock), so no record is handed to
two invocations at once. A drain runs passes until one finds nothing to do: the streams at
their tip, the consumed queues empty with nothing in flight, nothing new on the buses; what a
consumer caused in turn (a message it sent, an event it put) is done by then too.

A source that fails (DynamoDB Local or moto answering an error) does not stop the others: the
pass records the error and goes on, the background thread tries again at its next pass, and a
drain whose passes keep failing answers what failed (`errors`) instead of raising. The lock
is this module's alone: the API's requests never take it, so they are answered while a pass
or a drain runs, each function invocation of theirs waiting at most for the one under way
(the runner runs one at a time).
"""

import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from local.bus import BusDispatcher
from local.queues import QueueConsumer, QueueProgress
from local.streams import StreamConsumer, StreamProgress

T = TypeVar("T")

DEFAULT_POLL_INTERVAL_S = 0.5
DEFAULT_DRAIN_TIMEOUT_S = 60.0
# A drain gives up after this many passes in a row that only failed: an error that persists
# (DynamoDB Local gone) is reported at once rather than after the whole timeout.
FAILED_PASSES_BEFORE_GIVING_UP = 3


@dataclass
class Pass:
    """What one pass (or a drain's passes) did."""

    stream: StreamProgress = field(default_factory=StreamProgress)
    queue: QueueProgress = field(default_factory=QueueProgress)
    bus_events: int = 0
    queues_outstanding: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)  # source, errorType, message

    @property
    def busy(self) -> bool:
        """Whether it did anything (or left anything to do)."""
        return bool(
            self.stream.batches
            or self.stream.dead_lettered
            or self.queue.batches
            or self.queue.filtered
            or self.bus_events
            or not self.stream.caught_up
            or any(self.queues_outstanding.values())
            or self.errors
        )

    @property
    def progressed(self) -> bool:
        """Whether something was done for good (not only tried and failed)."""
        return bool(
            self.stream.records
            or self.stream.dead_lettered
            or self.queue.succeeded
            or self.queue.filtered
            or self.bus_events
        )

    def add(self, other: "Pass") -> None:
        self.stream.add(other.stream)
        self.queue.add(other.queue)
        self.bus_events += other.bus_events
        self.queues_outstanding = other.queues_outstanding
        self.errors = other.errors

    def counts(self) -> dict[str, int]:
        return {
            "streamRecords": self.stream.records,
            "streamBatches": self.stream.batches,
            "streamBatchesDeadLettered": self.stream.dead_lettered,
            "queueMessages": self.queue.succeeded,
            "queueMessagesFailed": self.queue.failed,
            "queueMessagesFilteredOut": self.queue.filtered,
            "queueBatches": self.queue.batches,
            "busEvents": self.bus_events,
        }


def _pending(done: Pass) -> list[str]:
    """What the last pass left to do, for a drain that stops before the end."""
    pending = [
        f"queue {name}: {count} message(s) not yet processed"
        for name, count in done.queues_outstanding.items()
        if count
    ]
    if not done.stream.caught_up:
        pending.append("stream: a batch keeps failing (retried until it succeeds)")
    pending += [f"{error['source']}: could not be read" for error in done.errors]
    return pending


class EventSources:
    """The stream and queue consumers and the buses' relay, run by `start()` in the
    background every `poll_interval` seconds until `stop()`, or by `drain()`."""

    def __init__(
        self,
        bus: BusDispatcher | None,
        streams: list[StreamConsumer],
        queues: list[QueueConsumer],
        poll_interval: float = DEFAULT_POLL_INTERVAL_S,
    ) -> None:
        self.bus = bus
        self.streams = streams
        self.queues = queues
        self.poll_interval = poll_interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def stream_of(self, function: str) -> StreamConsumer:
        """The stream consumer of a function (its logical id); KeyError if it has none."""
        for stream in self.streams:
            if stream.mapping.function.name == function:
                return stream
        raise KeyError(function)

    def poll(self) -> Pass:
        """One pass over every source."""
        with self._lock:
            return self._pass()

    def _pass(self) -> Pass:
        done = Pass()
        bus = self.bus
        if bus is not None:
            done.bus_events += self._guarded(done, "bus", bus.relay, 0)
        for stream in self.streams:
            unread = StreamProgress(caught_up=False)
            source = f"stream {stream.mapping.key}"
            done.stream.add(self._guarded(done, source, stream.poll, unread))
        for queue in self.queues:
            source = f"queue {queue.mapping.key}"
            done.queue.add(self._guarded(done, source, queue.poll, QueueProgress()))
        if bus is not None:
            done.bus_events += self._guarded(done, "bus", bus.relay, 0)
        for queue in self.queues:
            done.queues_outstanding[queue.mapping.key] = self._guarded(
                done, f"queue {queue.mapping.key}", queue.outstanding, 0
            )
        return done

    @staticmethod
    def _guarded(done: Pass, source: str, work: Callable[[], T], failed: T) -> T:
        """`work()`, or `failed` when it raises, the error noted in `done` and on stderr."""
        try:
            return work()
        except Exception as error:
            print(f"Polling {source} failed (tried again at the next pass):", file=sys.stderr)
            traceback.print_exc()
            done.errors.append(
                {"source": source, "errorType": type(error).__name__, "errorMessage": str(error)}
            )
            return failed

    def drain(self, timeout: float = DEFAULT_DRAIN_TIMEOUT_S) -> dict[str, Any]:
        """Passes until one finds nothing to do, or `timeout` seconds: what they did."""
        deadline = time.monotonic() + timeout
        total = Pass()
        passes = failed_in_a_row = 0
        with self._lock:
            while True:
                done = self._pass()
                passes += 1
                total.add(done)
                if not done.busy:
                    return {"caughtUp": True, "passes": passes, "processed": total.counts()}
                failing = bool(done.errors) and not done.progressed
                failed_in_a_row = failed_in_a_row + 1 if failing else 0
                if failed_in_a_row >= FAILED_PASSES_BEFORE_GIVING_UP:
                    return {
                        "caughtUp": False,
                        "passes": passes,
                        "processed": total.counts(),
                        "pending": _pending(done),
                        "errors": done.errors,
                    }
                if time.monotonic() >= deadline:
                    answer = {
                        "caughtUp": False,
                        "passes": passes,
                        "processed": total.counts(),
                        "pending": _pending(done),
                    }
                    return answer | ({"errors": done.errors} if done.errors else {})

    # -- the background thread --

    def start(self) -> "EventSources":
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name="local-event-sources", daemon=True
            )
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                progressed = self.poll().progressed
            except Exception:
                print("Polling the stream and queues failed (tried again):", file=sys.stderr)
                traceback.print_exc()
                progressed = False
            # Straight on while there is work; a pause when idle or only failing.
            self._stop.wait(0 if progressed else self.poll_interval)

    def stop(self) -> None:
        """Stop the thread after the pass under way."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=30)
            self._thread = None
