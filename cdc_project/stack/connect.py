"""The local Kafka Connect worker: distributed mode, one worker, its state in topics on the local broker.

Connector configs, source offsets and task status live in the `_connect-*` topics, so a worker that is
killed and restarted (or a whole stack stopped and started) resumes every connector where its last
committed offsets say. Exactly-once source delivery (KIP-618) is on: a Debezium task's records and its
source offsets commit in one Kafka transaction, so a worker killed mid-stream re-sends nothing that a
read_committed consumer has seen. Plugins: one folder per Debezium connector under `jvm_dir/plugins`.
"""

from __future__ import annotations

from cdc_project.settings import StackSettings
from cdc_project.stack import jvm
from cdc_project.stack.kafka import ENV_PROVIDER, PROVIDERS_ALLOWED, render_properties

JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"


def worker_properties(settings: StackSettings) -> dict[str, str]:
    return {
        "bootstrap.servers": settings.kafka_bootstrap,
        "group.id": "cdc-connect",
        "key.converter": JSON_CONVERTER,
        "value.converter": JSON_CONVERTER,
        "config.storage.topic": "_connect-configs",
        "offset.storage.topic": "_connect-offsets",
        "status.storage.topic": "_connect-status",
        "config.storage.replication.factor": "1",
        "offset.storage.replication.factor": "1",
        "status.storage.replication.factor": "1",
        "offset.storage.partitions": "1",
        "status.storage.partitions": "1",
        "listeners": f"http://{settings.host}:{settings.ports.connect}",
        "rest.advertised.host.name": settings.host,
        "rest.advertised.port": str(settings.ports.connect),
        "plugin.path": str(settings.jvm_dir / "plugins"),
        # KIP-618: source records and source offsets in one transaction (connectors ask with
        # exactly.once.support=required, core/connectors.py).
        "exactly.once.source.support": "enabled",
        # Secrets in connector configs are ${env:VAR} placeholders the worker resolves (core/connectors.py).
        "config.providers": "env",
        "config.providers.env.class": ENV_PROVIDER,
        # One worker: after a restart its tasks come back at once instead of after the 5-minute wait
        # cooperative rebalancing keeps for a departed member.
        "scheduled.rebalance.max.delay.ms": "0",
        "task.shutdown.graceful.timeout.ms": "10000",
        "offset.flush.interval.ms": "1000",
    }


def start_argv(settings: StackSettings) -> list[str]:
    settings.connect_dir.mkdir(parents=True, exist_ok=True)
    props = settings.connect_dir / "worker.properties"
    props.write_text(render_properties(worker_properties(settings)))
    log4j = jvm.write_log4j_config(settings.connect_dir / "log4j2.properties")
    command = jvm.java_command(
        settings.jvm_dir / "kafka", jvm.CONNECT_HEAP, log4j,
        "org.apache.kafka.connect.cli.ConnectDistributed", str(props),
    )
    return [command[0], PROVIDERS_ALLOWED, *command[1:]]
