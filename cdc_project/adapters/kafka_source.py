"""Thin Kafka I/O: topic admin, end offsets, explicit-partition range reads, and the capture producer.

Partitions are always assigned explicitly (never a consumer group): offsets live in the sink, committed
atomically with the data, so the broker's group coordinator has nothing to add (and the local broker's
group joins are slow).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # typed here; confluent_kafka.admin re-exports it untyped

from cdc_project.core.errors import BrokerUnavailableError, MessagesGoneError
from cdc_project.core.events import RawMessage

ClientConfig = dict[str, str | int | float | bool]


def _base(bootstrap: str) -> ClientConfig:
    return {"bootstrap.servers": bootstrap, "socket.timeout.ms": 10_000}


def ensure_topics(bootstrap: str, topics: Iterable[str], partitions: int, timeout: float = 10.0) -> None:
    admin = AdminClient(_base(bootstrap))
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise BrokerUnavailableError(bootstrap, str(exc)) from exc
    missing = [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in topics if t not in existing]
    if not missing:
        return
    for future in admin.create_topics(missing, operation_timeout=timeout).values():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


def broker_healthy(bootstrap: str, timeout: float = 3.0) -> bool:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        # A plain TCP connect first: the Kafka client would log every refused connection while a broker starts.
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError:
        return False
    try:
        AdminClient(_base(bootstrap)).list_topics(timeout=timeout)
        return True
    except KafkaException:
        return False


def _coordinates(msg: Message) -> tuple[int, int]:
    """Partition and offset of a fetched data message (the client types them optional for other kinds)."""
    partition, offset = msg.partition(), msg.offset()
    if partition is None or offset is None:
        raise KafkaException(f"fetched a message without partition or offset: {msg!r}")
    return partition, offset


def _consumer(bootstrap: str) -> Consumer:
    # group.id is required by the client but unused: we assign partitions and never commit to the broker.
    return Consumer(
        {
            **_base(bootstrap),
            "group.id": "cdc-lakehouse-unused",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "error",
            "fetch.max.bytes": 64 * 1024 * 1024,
            "max.partition.fetch.bytes": 16 * 1024 * 1024,
            "queued.max.messages.kbytes": 256 * 1024,
        }
    )


def end_offsets(bootstrap: str, topic: str, timeout: float = 10.0) -> dict[int, int]:
    """High watermark per partition (exclusive). {} when the topic does not exist yet.

    The local broker under-reports it (last batch's base offset + 1), so it is a lower bound: a run reads
    at least this far and takes whatever else the broker returns in the same fetches.
    """
    consumer = _consumer(bootstrap)
    try:
        metadata = consumer.list_topics(topic, timeout=timeout)
        info = metadata.topics.get(topic)
        if info is None or info.error is not None:
            return {}
        result: dict[int, int] = {}
        for partition in sorted(info.partitions):
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
            result[partition] = high
        return result
    except KafkaException as exc:
        raise BrokerUnavailableError(bootstrap, str(exc)) from exc
    finally:
        consumer.close()


@dataclass(frozen=True)
class RangeRead:
    messages: list[RawMessage]
    last_offsets: dict[int, int]  # partition -> last offset read (absent: nothing read)
    fetch_seconds: float


def read_range(
    bootstrap: str,
    topic: str,
    starts: Mapping[int, int],
    planned_ends: Mapping[int, int],
    *,
    max_events: int,
    timeout: float,
) -> RangeRead:
    """Read [start, planned_end) of each partition, plus what the broker returns in the same fetches.

    Stops a partition once it reached planned_end - 1 and the fetched queue is drained, or at max_events.
    A partition that cannot reach its planned end within `timeout` raises: the broker said those offsets
    exist, so stopping short would silently leave a gap in this run's range.
    """
    began = time.monotonic()
    wanted = {p: planned_ends[p] - 1 for p in planned_ends if planned_ends[p] > starts.get(p, 0)}
    messages: list[RawMessage] = []
    last: dict[int, int] = {}
    if not wanted:
        return RangeRead(messages, last, 0.0)
    consumer = _consumer(bootstrap)
    try:
        consumer.assign([TopicPartition(topic, p, starts.get(p, 0)) for p in wanted])
        deadline = time.monotonic() + timeout
        reached: set[int] = set()
        drain_rounds = 0
        while len(messages) < max_events:
            pending = len(reached) < len(wanted)
            if not pending:
                # Past the planned end: take only what the client already holds from those fetches,
                # a few non-blocking rounds, so a busy topic cannot keep one run going forever.
                drain_rounds += 1
                if drain_rounds > 3:
                    break
            # consume() returns when it has num_messages or at the timeout: asking for no more than the
            # planned range still lacks returns as soon as it is there instead of waiting out the timeout.
            missing = sum(wanted[p] - last.get(p, starts.get(p, 0) - 1) for p in wanted if p not in reached)
            wanted_now = min(10_000, max_events - len(messages), max(missing, 1) if pending else 10_000)
            batch = consumer.consume(num_messages=wanted_now, timeout=1.0 if pending else 0.0)
            if not batch:
                if not pending:
                    break
                if time.monotonic() > deadline:
                    short = {p: (last.get(p), wanted[p]) for p in wanted if p not in reached}
                    raise BrokerUnavailableError(bootstrap, f"{topic}: partitions did not reach {short}")
                continue
            for msg in batch:
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(error)
                partition, offset = _coordinates(msg)
                messages.append(
                    RawMessage(
                        topic=topic,
                        partition=partition,
                        offset=offset,
                        key=msg.key(),
                        value=msg.value(),
                        timestamp_ms=msg.timestamp()[1],
                    )
                )
                last[partition] = offset
                if offset >= wanted[partition]:
                    reached.add(partition)
        return RangeRead(messages, last, time.monotonic() - began)
    finally:
        consumer.close()


def readable_ends(bootstrap: str, topic: str, committed: Mapping[int, int]) -> tuple[dict[int, int], frozenset[int]]:
    """End offsets to plan from, and the partitions whose committed offset the broker no longer has.

    Where the reported end says nothing follows the committed offset, a probe reads from it: the local
    broker under-reports the end (its last batch's base offset + 1), and only reading tells caught-up from
    more-to-read, or from a log that lost what the sink applied (an offset regression).
    """
    ends = end_offsets(bootstrap, topic)
    missing: set[int] = set()
    for partition, offset in committed.items():
        if ends.get(partition, 0) > offset + 1:
            continue  # the broker says more exists after our offset: nothing to probe
        probe = probe_committed(bootstrap, topic, partition, offset)
        if not probe.committed_exists:
            missing.add(partition)
        elif probe.next_exists:
            ends[partition] = offset + 2  # under-reported end: at least one more offset exists
    return ends, frozenset(missing)


def read_messages(
    bootstrap: str, topic: str, coordinates: Sequence[tuple[int, int]], timeout: float
) -> list[RawMessage]:
    """The messages at exactly these (partition, offset) coordinates, in the order given.

    For a run that let go of its batch's raw bytes and needs a few back (dead letters of a refused write).
    A coordinate the broker no longer has raises: a dead letter without its message would lose it.
    """
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    for partition, offset in coordinates:
        starts[partition] = min(starts.get(partition, offset), offset)
        ends[partition] = max(ends.get(partition, offset + 1), offset + 1)
    span = sum(ends[p] - starts[p] for p in ends)
    # No event cap below the span: the read stops at the planned ends (plus what those fetches returned).
    read = read_range(bootstrap, topic, starts, ends, max_events=span + 100_000, timeout=timeout)
    wanted = set(coordinates)
    found = {(m.partition, m.offset): m for m in read.messages if (m.partition, m.offset) in wanted}
    missing = [c for c in coordinates if c not in found]
    if missing:
        raise MessagesGoneError(topic, missing)
    return [found[c] for c in coordinates]


def make_producer(bootstrap: str) -> Producer:
    """Idempotent, acks=all, Java-compatible key partitioning (murmur2), as Kafka Connect would produce."""
    return Producer(
        {
            **_base(bootstrap),
            "enable.idempotence": True,
            "acks": "all",
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            "batch.num.messages": 10_000,
        }
    )


@dataclass(frozen=True)
class OffsetProbe:
    committed_exists: bool  # the broker still has the last offset the sink applied
    next_exists: bool  # there is at least one offset after it


def probe_committed(bootstrap: str, topic: str, partition: int, committed: int, timeout: float = 5.0) -> OffsetProbe:
    """Read up to two messages from `committed`: tells caught-up from lost data, whatever the watermark says."""
    consumer = _consumer(bootstrap)
    try:
        consumer.assign([TopicPartition(topic, partition, committed)])
        seen: set[int] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and committed + 1 not in seen:
            batch = consumer.consume(num_messages=2, timeout=0.5)
            for msg in batch:
                error = msg.error()
                if error is None:
                    seen.add(_coordinates(msg)[1])
                elif error.code() != KafkaError._PARTITION_EOF:
                    # auto.offset.reset=error: an offset the log does not have surfaces here.
                    return OffsetProbe(committed_exists=False, next_exists=False)
            if committed in seen and not batch:
                break
        return OffsetProbe(committed in seen, committed + 1 in seen)
    finally:
        consumer.close()


def exact_end_offsets(bootstrap: str, topic: str, timeout: float = 10.0) -> dict[int, int]:
    """The true end offset (exclusive) per partition now, even where the broker under-reports it.

    Reads from the reported end - 1 to the end of each partition: the local broker reports only the last
    batch's base offset + 1, so the messages of that batch after its base are found by reading them.
    """
    reported = end_offsets(bootstrap, topic, timeout)
    busy = {p: end for p, end in reported.items() if end > 0}
    if not busy:
        return reported
    consumer = Consumer({**_base(bootstrap), "group.id": "cdc-lakehouse-unused", "enable.auto.commit": False,
                         "auto.offset.reset": "error", "enable.partition.eof": True})
    try:
        consumer.assign([TopicPartition(topic, p, end - 1) for p, end in busy.items()])
        ends = dict(reported)
        open_partitions = set(busy)
        deadline = time.monotonic() + timeout
        while open_partitions:
            if time.monotonic() > deadline:
                raise BrokerUnavailableError(bootstrap, f"{topic}: no end of partitions {sorted(open_partitions)}")
            for msg in consumer.consume(num_messages=10_000, timeout=1.0):
                error = msg.error()
                if error is None:
                    partition, offset = _coordinates(msg)
                    ends[partition] = max(ends[partition], offset + 1)
                elif error.code() == KafkaError._PARTITION_EOF:
                    open_partitions.discard(msg.partition())
                else:
                    raise KafkaException(error)
        return ends
    finally:
        consumer.close()
