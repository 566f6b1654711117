"""The Kafka adapter on the real broker: read_committed reads (aborted transactions never seen, commit
markers counted as read through), topic state (ID, first and end offsets), and the pipeline's clients on
the broker's SASL/PLAIN listener with credentials from the environment (a wrong password is refused)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer

from cdc_project.adapters import kafka_source
from cdc_project.adapters.sinks import sink_for
from cdc_project.batch import run_batch
from cdc_project.config import KafkaConfig, parse_config
from cdc_project.core.errors import BrokerUnavailableError, MissingSecretError
from cdc_project.core.offsets import plan_ranges
from cdc_project.settings import StackSettings
from cdc_project.stack import kafka as kafka_service
from cdc_project_tests.cases import load_case
from cdc_project_tests.live.helpers import wait_for

pytestmark = pytest.mark.live


def _topic(stack: StackSettings) -> str:
    topic = f"kafka_source_{uuid.uuid4().hex[:8]}"
    kafka_source.ensure_topics(stack.kafka_bootstrap, [topic], partitions=1)
    return topic


def test_read_committed_skips_aborted_records_and_reads_through_commit_markers(stack: StackSettings) -> None:
    topic = _topic(stack)
    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap, "transactional.id": f"t-{topic}"})
    producer.init_transactions(10)
    for keep, values in ((True, [b"a", b"b"]), (False, [b"x", b"y"]), (True, [b"c"])):
        producer.begin_transaction()
        for value in values:
            producer.produce(topic, value=value)
        if keep:
            producer.commit_transaction(10)
        else:
            assert producer.flush(10) == 0  # written, then aborted (unsent records would just be purged)
            producer.abort_transaction(10)
    # offsets: a=0 b=1 marker=2 x=3 y=4 abort-marker=5 c=6 marker=7. The coordinator writes markers after
    # the commit returns, so the last stable offset reaches 8 a moment later.
    wait_for(lambda: kafka_source.end_offsets(stack.kafka_bootstrap, topic) == {0: 8}, 20, "the last marker")
    state = kafka_source.topic_state(stack.kafka_bootstrap, topic)
    assert state is not None and state.ends == {0: 8} and state.starts == {0: 0}
    read = kafka_source.read_range(stack.kafka_bootstrap, topic, {0: 0}, state.ends, max_events=100, timeout=20)
    assert [m.value for m in read.messages] == [b"a", b"b", b"c"]
    assert [m.offset for m in read.messages] == [0, 1, 6]
    assert read.last_offsets == {0: 7}  # through the last marker: the next read starts at the end
    again = kafka_source.read_range(stack.kafka_bootstrap, topic, {0: 2}, {0: 6}, max_events=100, timeout=20)
    # [2, 6) holds only a marker and aborted records: nothing of it is delivered, and the read takes what the
    # same fetch returned after it (c, then the end)
    assert [m.value for m in again.messages] == [b"c"] and again.last_offsets == {0: 7}


def test_topic_state_of_a_missing_topic_is_none_and_ids_differ_per_topic(stack: StackSettings) -> None:
    assert kafka_source.topic_state(stack.kafka_bootstrap, f"missing_{uuid.uuid4().hex[:8]}") is None
    first, second = _topic(stack), _topic(stack)
    ids = {kafka_source.topic_state(stack.kafka_bootstrap, t).topic_id for t in (first, second)}  # type: ignore[union-attr]
    assert len(ids) == 2 and all(len(i) == 22 and "+" not in i and "/" not in i for i in ids)  # Kafka's form


def _sasl(stack: StackSettings) -> KafkaConfig:
    return KafkaConfig(
        bootstrap_servers=stack.kafka_sasl_bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_username_env=kafka_service.SASL_USER_ENV,
        sasl_password_env=kafka_service.SASL_PASSWORD_ENV,
    )


def test_a_run_reads_through_the_sasl_listener_with_credentials_from_the_environment(
    stack: StackSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(kafka_service.SASL_USER_ENV, kafka_service.SASL_USER)
    monkeypatch.setenv(kafka_service.SASL_PASSWORD_ENV, kafka_service.sasl_password(stack))
    secured = _sasl(stack)
    assert kafka_source.broker_healthy(secured)
    topic = "sasl.public.t"
    kafka_source.ensure_topics(secured, [topic], partitions=1)
    producer = kafka_source.make_producer(secured)
    recorded = [m for m in load_case("postgres/debezium_3_6_embedded.jsonl") if m.topic == "shop.public.t"]
    assert recorded
    for message in recorded:
        producer.produce(topic, key=message.key, value=message.value)
    assert producer.flush(10) == 0
    config = parse_config({
        "name": "sasl_test",
        "kafka": secured.model_dump(),
        "lake": {"root": str(tmp_path)},
        "sources": [{"name": "sasl", "kind": "postgres", "host": "127.0.0.1", "port": 5432, "database": "x",
                     "user": "x", "topic_prefix": "sasl", "tables": [{"name": "public.t"}]}],
    })
    source = config.sources[0]
    table = source.tables[0]
    plan = plan_ranges(topic, {}, kafka_source.end_offsets(secured, topic))
    assert plan is not None
    result = run_batch(config, source, table, plan, "delta")
    assert result.events == len(recorded)
    assert sink_for(config, source, table, "delta").committed_offsets() == {0: len(recorded) - 1}


def test_the_sasl_listener_refuses_a_wrong_password_and_a_missing_secret_is_named(
    stack: StackSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(kafka_service.SASL_USER_ENV, kafka_service.SASL_USER)
    monkeypatch.setenv(kafka_service.SASL_PASSWORD_ENV, "not-the-password")
    assert not kafka_source.broker_healthy(_sasl(stack))
    with pytest.raises(BrokerUnavailableError):
        kafka_source.topic_state(_sasl(stack), "anything", timeout=5)
    monkeypatch.delenv(kafka_service.SASL_PASSWORD_ENV)
    with pytest.raises(MissingSecretError, match=kafka_service.SASL_PASSWORD_ENV):
        kafka_source.client_config(_sasl(stack))
