"""One ingest sensor per table: a pure decision (core/offsets.py) around one gathering of facts.

The facts: the sink's committed offsets and the topic ID stored with them, the topic's state on the broker
(its ID, first and end offsets), and this table's recent runs. The decision: refuse loudly when the offsets
do not continue the topic's log (a re-created or truncated topic: the tick fails and names both IDs), else
request a run for explicit offset ranges with a run_key (a repeated tick is deduplicated by Dagster), or
skip with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from cdc_project.adapters import kafka_source
from cdc_project.adapters.sinks import sink_for
from cdc_project.config import PipelineConfig
from cdc_project.core.offsets import IngestDecision, TopicState, check_continuity, decide_ingest, plan_ranges
from cdc_project.defs.ingest.assets import IngestRangeConfig, TableAssets

UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


@dataclass(frozen=True)
class TableFacts:
    committed: dict[int, int]
    stored_topic_id: str | None
    topic: TopicState | None  # None: the topic does not exist (yet)
    in_flight_run: str | None
    failed_attempts: int  # failed runs whose range started where the sink stands now


def gather_facts(config: PipelineConfig, names: TableAssets, instance: dg.DagsterInstance) -> TableFacts:
    sink = sink_for(config, names.source, names.table, names.sink)
    committed = sink.committed_offsets()
    stored_topic_id = sink.committed_topic_id()
    topic = kafka_source.topic_state(config.kafka, names.topic)
    runs = instance.get_runs(dg.RunsFilter(tags={"cdc/stream": names.stream}), limit=25)
    in_flight = next((r.run_id for r in runs if r.status in UNFINISHED), None)
    start_tag = ",".join(f"{p}:{o + 1}" for p, o in sorted(committed.items()))
    failed = sum(1 for r in runs if r.status == dg.DagsterRunStatus.FAILURE and r.tags.get("cdc/start") == start_tag)
    return TableFacts(committed, stored_topic_id, topic, in_flight, failed)


def decide(config: PipelineConfig, names: TableAssets, facts: TableFacts) -> IngestDecision:
    check_continuity(names.topic, facts.topic, facts.stored_topic_id, facts.committed)
    ends = {} if facts.topic is None else dict(facts.topic.ends)
    plan = plan_ranges(names.topic, facts.committed, ends, max_events=config.ingest.max_batch_events)
    return decide_ingest(names.stream, plan, in_flight_run=facts.in_flight_run, failed_attempts=facts.failed_attempts)


def build_ingest_sensor(config: PipelineConfig, names: TableAssets, job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"ingest_{names.slug}_sensor",
        job=job,
        minimum_interval_seconds=config.ingest.sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Polls {names.topic} and the {names.sink} sink's committed offsets; one run per range",
    )
    def ingest_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        facts = gather_facts(config, names, context.instance)
        decision = decide(config, names, facts)  # raises on a re-created/truncated topic: the tick fails, visibly
        if decision.plan is None or decision.run_key is None:
            return dg.SensorResult(skip_reason=decision.skip_reason)
        start_tag = ",".join(f"{p}:{o + 1}" for p, o in sorted(facts.committed.items()))
        request = dg.RunRequest(
            run_key=decision.run_key,
            run_config=dg.RunConfig(ops={f"ingest_{names.slug}": IngestRangeConfig(ranges=decision.plan.encode())}),
            tags={**names.tags, "cdc/ranges": decision.plan.encode(), "cdc/start": start_tag},
        )
        return dg.SensorResult(run_requests=[request])

    return ingest_sensor
