"""The table's change stream delivered to its consumers, as Lambda's event source mapping
delivers it (SPEC §11).

Every `DynamoDB` event whose `Stream` is the points table's (`!GetAtt PointsTable.StreamArn`)
is a mapping. Each reads DynamoDB Local's stream with the dynamodbstreams API, shard by shard
(a child only once its parent is read to its end), and hands its function batches of up to
`BatchSize` records (default 100) in the record shape Lambda sends, after the mapping's
`FilterCriteria` (EventBridge's pattern syntax over the record; records filtered out are
skipped). A failed batch is retried from its start, or, with `FunctionResponseTypes:
[ReportBatchItemFailures]`, from the first sequence number the function names; after
`MaximumRetryAttempts` (absent or -1: until it succeeds, as in AWS until the record
expires) the batch is dead-lettered: recorded, and sent to the `DestinationConfig.OnFailure`
queue in Lambda's on-failure record shape when the template names one. The shapes, and the
reading of a partial batch response, are local/lambda_events.py's.

A shard iterator that has expired (they last 15 minutes) or points at trimmed records is
replaced as Lambda's poller replaces it: AFTER_SEQUENCE_NUMBER of the last record done, or
TRIM_HORIZON when there is none. Each mapping's position (per shard, the last sequence
number done) is kept in the state folder, so a restart continues after it; a mapping with no
position, or whose table was made anew (another stream ARN), starts at TRIM_HORIZON: it sees
every change of the table.
"""

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.bus import send_failure_record
from local.dynamodb_local import REGION, client, streams_client
from local.event_patterns import filter_patterns, matches_any
from local.functions import Function, FunctionHost
from local.lambda_events import dynamodb_stream_record, reported_failures, stream_batch_failure
from local.resources import TABLE, LocalResources

DEFAULT_BATCH_SIZE = 100
# With retries "until the record expires", a pass tries a blocked batch this often, then
# moves on to the other work (and the next pass tries again).
ATTEMPTS_PER_PASS_WHEN_UNBOUNDED = 3


@dataclass(frozen=True)
class StreamMapping:
    """One `DynamoDB` event source of a function on the points table's stream."""

    function: Function
    name: str
    batch_size: int
    max_retries: int | None  # None: until it succeeds
    report_item_failures: bool
    filters: list[dict[str, Any]] = field(compare=False)
    on_failure: Any = None  # the destination as the template writes it
    bisect_on_error: bool = False  # BisectBatchOnFunctionError

    @property
    def key(self) -> str:
        return f"{self.function.name}.{self.name}"


def _is_table_stream(resources: LocalResources, stream: Any) -> bool:
    if not isinstance(stream, dict) or "Fn::GetAtt" not in stream:
        return False
    target = stream["Fn::GetAtt"]
    resource, attribute = target.split(".", 1) if isinstance(target, str) else target
    kind = (resources.resources.get(resource) or {}).get("Type")
    return kind == TABLE and attribute == "StreamArn"


def discover_stream_mappings(
    functions: Mapping[str, Function], resources: LocalResources
) -> list[StreamMapping]:
    """The `DynamoDB` events on the table's stream (enabled ones)."""
    mappings = []
    for function in functions.values():
        for event in function.events_of("DynamoDB"):
            properties = event.properties
            if not _is_table_stream(resources, properties.get("Stream")):
                continue
            if properties.get("Enabled") is False:
                continue
            retries = properties.get("MaximumRetryAttempts", -1)
            mappings.append(
                StreamMapping(
                    function=function,
                    name=event.name,
                    batch_size=int(properties.get("BatchSize", DEFAULT_BATCH_SIZE)),
                    max_retries=None if retries == -1 else int(retries),
                    report_item_failures="ReportBatchItemFailures"
                    in (properties.get("FunctionResponseTypes") or []),
                    filters=filter_patterns(properties),
                    on_failure=(
                        (properties.get("DestinationConfig") or {}).get("OnFailure") or {}
                    ).get("Destination"),
                    bisect_on_error=properties.get("BisectBatchOnFunctionError") is True,
                )
            )
    return mappings


def _records_from(batch: list[dict[str, Any]], sequence_number: str) -> int:
    """How many records of the batch there are from this one on."""
    return sum(int(r["dynamodb"]["SequenceNumber"]) >= int(sequence_number) for r in batch)


def read_whole_stream(endpoint: str, table_name: str) -> list[dict[str, Any]]:
    """Every record of the table's stream so far, oldest first per shard, as Lambda would
    deliver them (for tests and benchmarks that feed a stream function by hand)."""
    dynamodb = client(endpoint)
    reader = streams_client(endpoint)
    arn = dynamodb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    records = []
    for shard in reader.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = reader.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = reader.get_records(ShardIterator=iterator, Limit=1000)
            records += [dynamodb_stream_record(r, arn, REGION) for r in page["Records"]]
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return records


@dataclass
class ShardPosition:
    """How far a mapping has read a shard."""

    after: str | None = None  # the last sequence number done
    done: bool = False  # read to its end (a closed shard)
    iterator: str | None = None  # not kept: iterators expire
    attempts: int = 0  # failed attempts of the batch starting after `after`
    bisected_to: int | None = None  # the size a failing batch was split down to
    split_until: str | None = None  # the last record of the batch first split


@dataclass
class StreamProgress:
    """What a pass did: records delivered, batches run and dead-lettered, and whether every
    shard was read to its tip."""

    records: int = 0
    batches: int = 0
    dead_lettered: int = 0
    caught_up: bool = True

    def add(self, other: "StreamProgress") -> None:
        self.records += other.records
        self.batches += other.batches
        self.dead_lettered += other.dead_lettered
        self.caught_up = self.caught_up and other.caught_up


class StreamConsumer:
    """One mapping reading the table's stream; `poll()` does what there is to do now."""

    def __init__(
        self,
        mapping: StreamMapping,
        runner: FunctionHost,
        dynamodb: Any,
        streams: Any,
        table_name: str,
        state_dir: Path,
        resources: LocalResources,
        services: Any = None,
    ) -> None:
        self.mapping = mapping
        self.runner = runner
        self.dynamodb = dynamodb
        self.streams = streams
        self.table_name = table_name
        self.state_file = state_dir / "streams" / f"{mapping.key}.json"
        self.resources = resources
        self.services = services
        self.dead_letters: list[dict[str, Any]] = []
        self.stream_arn: str | None = None
        self.shards: dict[str, ShardPosition] = {}
        self._load()

    def invoke(self, event: dict[str, Any]) -> Any:
        """Run the mapping's function on `event` now, as a synchronous invocation does (a
        redrive's replay of records the stream no longer holds): what it returned."""
        invocation = self.runner.invoke(
            self.mapping.function, event, what=f"stream replay ({self.mapping.name})"
        )
        if not invocation.succeeded:
            raise RuntimeError(f"the stream function failed: {invocation.error()}")
        return invocation.result

    # -- the saved position --

    def _load(self) -> None:
        try:
            saved = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return
        self.stream_arn = saved.get("streamArn")
        self.shards = {
            shard: ShardPosition(after=position.get("after"), done=bool(position.get("done")))
            for shard, position in (saved.get("shards") or {}).items()
        }

    def _save(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        partial = self.state_file.with_suffix(".partial")
        partial.write_text(
            json.dumps(
                {
                    "streamArn": self.stream_arn,
                    "shards": {
                        shard: {"after": position.after, "done": position.done}
                        for shard, position in self.shards.items()
                    },
                },
                indent=2,
            )
        )
        partial.replace(self.state_file)  # a reader (or a crash) sees the old or the new

    # -- reading --

    def _current_stream(self) -> str | None:
        table = self.dynamodb.describe_table(TableName=self.table_name)["Table"]
        arn: str | None = table.get("LatestStreamArn")
        if arn != self.stream_arn:  # a new table (or first start): from TRIM_HORIZON
            self.stream_arn, self.shards = arn, {}
        return arn

    def _shards_in_order(self, stream_arn: str) -> list[dict[str, Any]]:
        """The stream's shards, every parent before its children."""
        shards: list[dict[str, Any]] = []
        start: str | None = None
        while True:
            arguments: dict[str, Any] = {"StreamArn": stream_arn}
            if start:
                arguments["ExclusiveStartShardId"] = start
            description = self.streams.describe_stream(**arguments)["StreamDescription"]
            shards.extend(description.get("Shards", []))
            start = description.get("LastEvaluatedShardId")
            if not start:
                break
        known = {shard["ShardId"] for shard in shards}
        ordered: list[dict[str, Any]] = []
        placed: set[str] = set()
        pending = list(shards)
        while pending:
            ready = [
                shard
                for shard in pending
                if shard.get("ParentShardId") not in known or shard["ParentShardId"] in placed
            ]
            if not ready:  # a cycle cannot happen; keep the rest in listed order
                ready = pending
            for shard in ready:
                ordered.append(shard)
                placed.add(shard["ShardId"])
            pending = [shard for shard in pending if shard["ShardId"] not in placed]
        return ordered

    def poll(self) -> StreamProgress:
        """Read every shard as far as its tip, delivering what passes the filters."""
        progress = StreamProgress()
        stream_arn = self._current_stream()
        if stream_arn is None:
            return progress
        for shard in self._shards_in_order(stream_arn):
            shard_id = shard["ShardId"]
            parent = shard.get("ParentShardId")
            if parent in self.shards and not self.shards[parent].done:
                progress.caught_up = False  # its parent is not finished yet
                continue
            position = self.shards.setdefault(shard_id, ShardPosition())
            if not position.done:
                progress.add(self._read_shard(stream_arn, shard_id, position))
        return progress

    def _iterator(self, stream_arn: str, shard_id: str, position: ShardPosition) -> str:
        arguments: dict[str, Any] = {"StreamArn": stream_arn, "ShardId": shard_id}
        if position.after is None:
            arguments["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            arguments.update(
                ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=position.after
            )
        try:
            iterator: str = self.streams.get_shard_iterator(**arguments)["ShardIterator"]
        except self.streams.exceptions.TrimmedDataAccessException:
            # What was after our position has expired from the stream: the oldest there is.
            arguments.pop("SequenceNumber", None)
            arguments["ShardIteratorType"] = "TRIM_HORIZON"
            iterator = self.streams.get_shard_iterator(**arguments)["ShardIterator"]
        return iterator

    def _read_shard(
        self, stream_arn: str, shard_id: str, position: ShardPosition
    ) -> StreamProgress:
        progress = StreamProgress()
        tries_this_pass = 0
        while True:
            fresh = position.iterator is None
            if position.iterator is None:
                position.iterator = self._iterator(stream_arn, shard_id, position)
            try:
                answer = self.streams.get_records(
                    ShardIterator=position.iterator,
                    Limit=position.bisected_to or self.mapping.batch_size,
                )
            except (
                self.streams.exceptions.ExpiredIteratorException,
                self.streams.exceptions.TrimmedDataAccessException,
            ):
                # An iterator lasts 15 minutes, and one kept between passes outlives that
                # behind a long batch or an idle stack. As Lambda's poller does: a new one
                # after the last record done (TRIM_HORIZON if none, or if that is trimmed).
                position.iterator = None
                if fresh:  # a new iterator refused at once: not an expiry, do not loop
                    raise
                continue
            records = answer.get("Records", [])
            next_iterator = answer.get("NextShardIterator")
            if not records:
                if next_iterator is None:
                    position.done = True
                    self._save()
                position.iterator = next_iterator
                return progress
            region = self.resources.region
            batch = [dynamodb_stream_record(record, stream_arn, region) for record in records]
            chosen = [record for record in batch if matches_any(self.mapping.filters, record)]
            if not chosen:
                position.after = batch[-1]["dynamodb"]["SequenceNumber"]
                position.iterator = next_iterator
                self._save()
                continue
            progress.batches += 1
            failed_from = self._run_batch(chosen)
            if failed_from is None:
                progress.records += len(chosen)
                position.after = batch[-1]["dynamodb"]["SequenceNumber"]
                position.iterator, position.attempts = next_iterator, 0
                last = int(position.after)
                if position.split_until is None or last >= int(position.split_until):
                    position.bisected_to = position.split_until = None
                self._save()
                continue
            # Done: everything before the first failure. The rest is retried from there.
            done_before = [
                record
                for record in chosen
                if int(record["dynamodb"]["SequenceNumber"]) < int(failed_from)
            ]
            if done_before:
                progress.records += len(done_before)
                position.after = done_before[-1]["dynamodb"]["SequenceNumber"]
                position.attempts = 0
            position.iterator = None
            failing = [record for record in chosen if record not in done_before]
            remaining = _records_from(batch, failed_from)
            if self.mapping.bisect_on_error and remaining > 1:
                # As Lambda does: the batch from the failure is split in two before it is
                # retried, without using a retry, until a record that keeps failing fails
                # alone; the other half follows once the first is done.
                position.bisected_to = remaining // 2
                position.split_until = (
                    position.split_until or batch[-1]["dynamodb"]["SequenceNumber"]
                )
            else:
                position.attempts += 1
            retries = self.mapping.max_retries
            if retries is not None and position.attempts > retries:
                self._dead_letter(shard_id, failing, position.attempts)
                progress.dead_lettered += 1
                position.after = batch[-1]["dynamodb"]["SequenceNumber"]
                position.attempts, position.bisected_to = 0, None
                if position.split_until and int(position.after) >= int(position.split_until):
                    position.split_until = None
                position.iterator = next_iterator
            elif retries is None:
                tries_this_pass += 1
                if tries_this_pass >= ATTEMPTS_PER_PASS_WHEN_UNBOUNDED:
                    progress.caught_up = False
                    self._save()
                    return progress
            self._save()

    def _run_batch(self, records: list[dict[str, Any]]) -> str | None:
        """Run the function on a batch; None when it all succeeded, else the sequence number
        to retry from."""
        first = str(records[0]["dynamodb"]["SequenceNumber"])
        invocation = self.runner.invoke(
            self.mapping.function, {"Records": records}, what=f"stream ({self.mapping.name})"
        )
        if not invocation.succeeded:
            return first
        if not self.mapping.report_item_failures:
            return None
        numbers = [str(record["dynamodb"]["SequenceNumber"]) for record in records]
        failed = reported_failures(invocation.result, numbers)
        # In batch order: the first failed is the earliest.
        return failed[0] if failed else None

    def _dead_letter(self, shard_id: str, records: list[dict[str, Any]], attempts: int) -> None:
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        record = stream_batch_failure(
            self.mapping.function.arn, attempts, shard_id, records, self.stream_arn
        )
        queue = None
        if self.mapping.on_failure is not None:
            queue = send_failure_record(
                self.services, self.resources, self.mapping.on_failure, record
            )
        self.dead_letters.append({**record, "destination": queue})
        print(
            f"{self.mapping.key}: records {first['SequenceNumber']}..{last['SequenceNumber']} "
            f"dead-lettered after {attempts} attempts"
            + (f" (sent to {queue})" if queue else " (no on-failure destination)"),
            file=sys.stderr,
        )
