"""Thin Kafka I/O: client settings, topic admin, topic state, explicit-partition range reads, a producer.

Partitions are always assigned explicitly (never a consumer group): offsets live in the sink, committed
atomically with the data, so the broker's group coordinator has nothing to add.

Kafka semantics this module is written for (docs/DESIGN.md "Offsets"):
- consumers read with `isolation.level=read_committed`: the capture (Kafka Connect with exactly-once
  source delivery) writes in transactions, and only committed records are ever applied. The end offset a
  read_committed client sees is the last stable offset (LSO);
- transactional topics hold control records (commit markers) that take offsets but are never delivered:
  offsets are not contiguous. A read therefore counts a partition as read through the end it saw when the
  client reports end-of-partition there, so committed offsets may point at a marker and the next read starts
  after it;
- a topic has a topic ID: a topic deleted and re-created under the same name gets a new one
  (`topic_state`), which is how the sinks' stored offsets are checked against the log (core/offsets.py).
"""

from __future__ import annotations

import base64
import os
import socket
import struct
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # typed here; confluent_kafka.admin re-exports it untyped

from cdc_project.config import KafkaConfig
from cdc_project.core.errors import BrokerUnavailableError, MessagesGoneError, MissingSecretError
from cdc_project.core.events import RawMessage
from cdc_project.core.offsets import TopicState

ClientConfig = dict[str, str | int | float | bool]
# Where to connect: the pipeline's Kafka settings (security included), or a bare PLAINTEXT bootstrap string
# (the local stack's own tools and tests).
KafkaTarget = KafkaConfig | str


def client_config(target: KafkaTarget) -> ClientConfig:
    """librdkafka settings for the target; SASL credentials are read from the environment here, per client."""
    if isinstance(target, str):
        return {"bootstrap.servers": target, "socket.timeout.ms": 10_000}
    conf: ClientConfig = {
        "bootstrap.servers": target.bootstrap_servers,
        "socket.timeout.ms": 10_000,
        "security.protocol": target.security_protocol,
    }
    if target.security_protocol.startswith("SASL"):
        for key, env_var in (("sasl.username", target.sasl_username_env), ("sasl.password", target.sasl_password_env)):
            if env_var is None:  # refused at config load too; kept for configs built in code
                raise MissingSecretError(f"kafka.{key.replace('.', '_')}_env", "(not set in the config)")
            value = os.environ.get(env_var)
            if value is None:
                raise MissingSecretError(f"kafka.{key.replace('.', '_')}_env", env_var)
            conf[key] = value
        conf["sasl.mechanism"] = target.sasl_mechanism
    if target.ssl_ca_file is not None:
        conf["ssl.ca.location"] = target.ssl_ca_file
    return conf


def _bootstrap(target: KafkaTarget) -> str:
    return target if isinstance(target, str) else target.bootstrap_servers


def ensure_topics(target: KafkaTarget, topics: Iterable[str], partitions: int, timeout: float = 10.0) -> None:
    admin = AdminClient(client_config(target))
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise BrokerUnavailableError(_bootstrap(target), str(exc)) from exc
    missing = [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in topics if t not in existing]
    if not missing:
        return
    for future in admin.create_topics(missing, operation_timeout=timeout).values():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


def broker_healthy(target: KafkaTarget, timeout: float = 3.0) -> bool:
    """A real metadata answer: at least one broker and an elected controller."""
    host, _, port = _bootstrap(target).split(",")[0].rpartition(":")
    try:
        # A plain TCP connect first: the Kafka client would log every refused connection while a broker starts.
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError:
        return False
    admin = AdminClient(client_config(target))  # held: a collected client cancels its pending requests
    try:
        cluster = admin.describe_cluster(request_timeout=timeout).result(timeout=timeout)
    except (KafkaException, TimeoutError):  # TimeoutError: no answer, e.g. refused SASL credentials
        return False
    return bool(cluster.nodes) and cluster.controller is not None


def _coordinates(msg: Message) -> tuple[int, int]:
    """Partition and offset of a fetched message or event (the client types them optional for other kinds)."""
    partition, offset = msg.partition(), msg.offset()
    if partition is None or offset is None:
        raise KafkaException(f"fetched a message without partition or offset: {msg!r}")
    return partition, offset


def _consumer(target: KafkaTarget) -> Consumer:
    # group.id is required by the client but unused: we assign partitions and never commit to the broker.
    return Consumer(
        {
            **client_config(target),
            "group.id": "cdc-lakehouse-unused",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "error",
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "fetch.max.bytes": 64 * 1024 * 1024,
            "max.partition.fetch.bytes": 16 * 1024 * 1024,
            "queued.max.messages.kbytes": 256 * 1024,
        }
    )


def topic_state(target: KafkaTarget, topic: str, timeout: float = 10.0) -> TopicState | None:
    """The topic's ID and, per partition, its first offset and its end (exclusive, the LSO); None if absent."""
    admin = AdminClient(client_config(target))
    try:
        future = admin.describe_topics(TopicCollection([topic]), request_timeout=timeout)[topic]
        description = future.result(timeout=timeout)
    except KafkaException as exc:
        if exc.args and isinstance(exc.args[0], KafkaError) and exc.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return None
        raise BrokerUnavailableError(_bootstrap(target), str(exc)) from exc
    except TimeoutError as exc:  # no answer within the timeout (down, or refused SASL credentials)
        raise BrokerUnavailableError(_bootstrap(target), f"describe {topic}: no answer in {timeout}s") from exc
    consumer = _consumer(target)
    try:
        starts: dict[int, int] = {}
        ends: dict[int, int] = {}
        for info in sorted(description.partitions, key=lambda p: p.id):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, info.id), timeout=timeout)
            starts[info.id], ends[info.id] = low, high
        return TopicState(topic, kafka_uuid(description.topic_id), starts, ends)
    except KafkaException as exc:
        raise BrokerUnavailableError(_bootstrap(target), str(exc)) from exc
    finally:
        consumer.close()


def kafka_uuid(value: Any) -> str:
    """A topic ID as Kafka itself prints it (`kafka-topics.sh --describe`): 16 bytes, base64url, unpadded.
    The client's str() uses the standard alphabet instead, which would not compare equal to it."""
    raw = struct.pack(">qq", value.get_most_significant_bits(), value.get_least_significant_bits())
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def end_offsets(target: KafkaTarget, topic: str, timeout: float = 10.0) -> dict[int, int]:
    """End offset per partition (exclusive; the last stable offset for read_committed). {} when absent."""
    state = topic_state(target, topic, timeout)
    return {} if state is None else dict(state.ends)


@dataclass(frozen=True)
class RangeRead:
    messages: list[RawMessage]
    last_offsets: dict[int, int]  # partition -> last offset read through (absent: nothing read)
    fetch_seconds: float


def read_range(
    target: KafkaTarget,
    topic: str,
    starts: Mapping[int, int],
    planned_ends: Mapping[int, int],
    *,
    max_events: int,
    timeout: float,
) -> RangeRead:
    """Read [start, planned_end) of each partition, plus what the broker returns in the same fetches.

    A partition is read through once a message at or past planned_end - 1 arrived, or the client reported
    end-of-partition at or past planned_end (the last offsets before an end can be commit markers, which
    are never delivered: the partition then counts as read through end - 1). Stops at max_events. A
    partition that cannot reach its planned end within `timeout` raises: the broker said those offsets
    exist, so stopping short would silently leave a gap in this run's range.
    """
    began = time.monotonic()
    wanted = {p: planned_ends[p] - 1 for p in planned_ends if planned_ends[p] > starts.get(p, 0)}
    messages: list[RawMessage] = []
    last: dict[int, int] = {}
    if not wanted:
        return RangeRead(messages, last, 0.0)
    consumer = _consumer(target)
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
            missing = sum(wanted[p] - last.get(p, starts.get(p, 0) - 1) for p in wanted if p not in reached)
            wanted_now = min(10_000, max_events - len(messages), max(missing, 1) if pending else 10_000)
            batch = consumer.consume(num_messages=wanted_now, timeout=1.0 if pending else 0.0)
            if not batch:
                if not pending:
                    break
                if time.monotonic() > deadline:
                    short = {p: (last.get(p), wanted[p]) for p in wanted if p not in reached}
                    raise BrokerUnavailableError(_bootstrap(target), f"{topic}: partitions did not reach {short}")
                continue
            for msg in batch:
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        partition, end = _coordinates(msg)
                        if end - 1 > last.get(partition, starts.get(partition, 0) - 1):
                            last[partition] = end - 1  # through the markers before the end
                        if partition in wanted and last.get(partition, -1) >= wanted[partition]:
                            reached.add(partition)
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


def read_messages(
    target: KafkaTarget, topic: str, coordinates: Sequence[tuple[int, int]], timeout: float
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
    read = read_range(target, topic, starts, ends, max_events=span + 100_000, timeout=timeout)
    wanted = set(coordinates)
    found = {(m.partition, m.offset): m for m in read.messages if (m.partition, m.offset) in wanted}
    missing = [c for c in coordinates if c not in found]
    if missing:
        raise MessagesGoneError(topic, missing)
    return [found[c] for c in coordinates]


def make_producer(target: KafkaTarget) -> Producer:
    """Idempotent, acks=all, Java-compatible key partitioning (murmur2), as Kafka Connect would produce."""
    return Producer(
        {
            **client_config(target),
            "enable.idempotence": True,
            "acks": "all",
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            "batch.num.messages": 10_000,
        }
    )
