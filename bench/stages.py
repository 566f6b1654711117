"""Where one ingest run spends its time and its memory, by wrapping the functions of its stages.

`stage_times` adds up wall-clock seconds per stage; the wrappers only read the clock, so the breakdown
costs nothing measurable and comes with every timed repetition. `stage_high_water` records how much each
stage raised the process's peak RSS. When a target is missed, the stage that explains the gap is in the same entry. The table
names functions by module attribute; a name that no longer exists is reported as missing rather than
silently dropped (rename it here when the project's code moves).
"""

from __future__ import annotations

import functools
import importlib
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from bench.procs import vm_hwm_mib

# (stage, module or module:Class, attribute). `apply` wraps every sink's apply (whatever its kind); the
# apply.* stages are inside it and only exist for the Delta sink; sink.* may run inside or outside apply.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("fetch", "cdc_project.adapters.kafka_source", "read_range"),
    ("broker_offsets", "cdc_project.adapters.kafka_source", "end_offsets"),
    ("topic_state", "cdc_project.adapters.kafka_source", "topic_state"),
    ("decode", "cdc_project.batch", "decode_batch"),
    ("apply.fold", "cdc_project.adapters.delta_sink", "fold_latest"),
    ("apply.tombstone_lookup", "cdc_project.adapters.delta_sink", "read_tombstones"),
    ("apply.changelog_append", "cdc_project.adapters.delta_sink", "append"),
    ("apply.current_merge", "cdc_project.adapters.delta_sink", "merge_current"),
    ("apply.tombstone_merge", "cdc_project.adapters.delta_sink", "merge_tombstones"),
    ("apply.offsets_only_commit", "cdc_project.adapters.delta_tables", "commit_txn_only"),
    ("apply.widen", "cdc_project.adapters.delta_tables", "widen"),
    ("sink.committed_offsets", "cdc_project.adapters.delta_sink:DeltaTableSink", "committed_offsets"),
)


def _owner(path: str) -> Any:
    module, _, cls = path.partition(":")
    owner = importlib.import_module(module)
    return getattr(owner, cls) if cls else owner


Wrap = Callable[[str, Callable[..., Any], dict[str, float]], Callable[..., Any]]


def _timing(stage: str, fn: Callable[..., Any], totals: dict[str, float]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[stage] += time.perf_counter() - began

    return wrapper


def _high_water(stage: str, fn: Callable[..., Any], growth: dict[str, float]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        before = vm_hwm_mib(os.getpid()) or 0.0
        try:
            return fn(*args, **kwargs)
        finally:
            growth[stage] += (vm_hwm_mib(os.getpid()) or 0.0) - before

    return wrapper


def _sink_apply(wrap: Wrap, sink_for: Callable[..., Any], values: dict[str, float]) -> Callable[..., Any]:
    @functools.wraps(sink_for)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        sink = sink_for(*args, **kwargs)
        sink.apply = wrap("apply", sink.apply, values)  # an instance attribute: this sink only
        return sink

    return wrapper


@contextmanager
def _patched(wrap: Wrap) -> Iterator[dict[str, float]]:
    values: dict[str, float] = defaultdict(float)
    patched: list[tuple[Any, str, Any]] = []
    missing: list[str] = []
    for stage, path, attribute in [*STAGES, ("apply", "cdc_project.batch", "sink_for")]:
        owner = _owner(path)
        original = getattr(owner, attribute, None)
        if original is None:
            missing.append(f"{path}.{attribute}")
            continue
        wrapped = _sink_apply(wrap, original, values) if stage == "apply" else wrap(stage, original, values)
        setattr(owner, attribute, wrapped)
        patched.append((owner, attribute, original))
    try:
        yield values
    finally:
        for owner, attribute, original in reversed(patched):
            setattr(owner, attribute, original)
        if missing:
            values["missing: " + ", ".join(missing)] = 0.0


def stage_times() -> AbstractContextManager[dict[str, float]]:
    """A dict that fills with seconds per stage while the block runs; `missing: ...` names stale entries."""
    return _patched(_timing)


def stage_high_water() -> AbstractContextManager[dict[str, float]]:
    """A dict that fills with how much each stage raised this process's peak RSS (VmHWM, MiB): the stages
    that needed the memory. Nested stages (apply.*) are counted inside apply too."""
    return _patched(_high_water)


def breakdown(totals: dict[str, float], total_seconds: float) -> dict[str, float]:
    """Seconds per stage, plus `other` (the run minus its top-level stages), rounded for the JSON."""
    top = sum(
        seconds for stage, seconds in totals.items() if "." not in stage and not stage.startswith("missing")
    )
    out = {stage: round(seconds, 3) for stage, seconds in sorted(totals.items())}
    out["other"] = round(max(0.0, total_seconds - top), 3)
    return out
