"""How long changes took from the source commit to the broker: the capture part of the lag.

Debezium's `source.ts_ms` is the commit time in PostgreSQL; the Kafka record's timestamp is when the
capture process produced it (librdkafka CreateTime). A sample of the topic's messages, spread evenly over
an offset range, gives that delay's distribution without reading every message.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from confluent_kafka import Consumer, KafkaError, TopicPartition


def _one(consumer: Consumer, topic: str, offset: int) -> tuple[int, dict[str, object]] | None:
    consumer.assign([TopicPartition(topic, 0, offset)])
    for _ in range(10):
        for msg in consumer.consume(num_messages=1, timeout=0.5):
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    return None
                continue
            value = msg.value()
            payload = orjson.loads(value).get("payload") if value else None
            return (msg.timestamp()[1], payload) if isinstance(payload, dict) else None
    return None


def sample_delays(
    bootstrap: str,
    topic: str,
    first: int,
    last: int,
    phase_of: Callable[[dict[str, object]], str | None],
    samples: int = 60,
) -> dict[str, list[float]]:
    """Commit-to-broker seconds of up to `samples` messages in offsets [first, last], grouped by `phase_of`
    (None: not one of ours, e.g. a delete, which carries no marker)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "cdc-bench-unused", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "log_level": 3})  # fmt: skip
    delays: dict[str, list[float]] = {}
    try:
        step = max(1, (last - first) // max(samples, 1))
        for offset in range(first, last + 1, step):
            found = _one(consumer, topic, offset)
            if found is None:
                continue
            produced_ms, payload = found
            source = payload.get("source")
            phase = phase_of(payload)
            if phase is None or not isinstance(source, dict) or not isinstance(source.get("ts_ms"), int):
                continue
            delays.setdefault(phase, []).append((produced_ms - source["ts_ms"]) / 1000)
    finally:
        consumer.close()
    return delays
