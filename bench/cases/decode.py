"""decode: Debezium PostgreSQL envelopes -> typed Arrow rows (core/events.decode_batch), events/s on one core.

Input: one large batch of the workload as JsonConverter writes it, with schemas (the schema repeated in
every message, ~5 KB each) and without (`schemas.enable=false`, ~0.8 KB). Decode is single-threaded
Python plus Arrow builders: the calling thread is pinned to one CPU, and the figure is events per second of
that thread's CPU time (`time.thread_time`), which other processes on a busy machine disturb far less than
the wall clock (recorded too, as `wall_events_per_second`). After the timed runs, one more run under
cProfile (over the first 20,000 events) gives the functions the time goes to (the JSON's `profile`), which explains a gap to the
200,000 events/s target.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

from bench.context import Context
from bench.registry import Figure, Figures, case, rate
from cdc_project.core.events import RawMessage, decode_batch

TOPIC = "bench.public.t"
PROFILED_EVENTS = 20_000  # cProfile slows decode ~3x; the shares settle well before 20k events


@contextmanager
def one_core() -> Iterator[None]:
    """Pin the calling thread to the CPU it runs on, and restore its affinity afterwards."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def top_functions(fn: Callable[[], object], limit: int = 8) -> dict[str, float]:
    """Share of own time (tottime) of the `limit` costliest functions in one run of `fn`."""
    profiler = cProfile.Profile()
    profiler.runcall(fn)
    stats = pstats.Stats(profiler)
    rows = stats.stats  # type: ignore[attr-defined]
    total = sum(row[2] for row in rows.values()) or 1.0
    ranked = sorted(rows.items(), key=lambda item: item[1][2], reverse=True)[:limit]
    return {
        f"{func} ({os.path.basename(file)}:{line})": round(row[2] / total, 3)
        for (file, line, func), row in ranked
    }


def _decode_figure(ctx: Context, messages: list[RawMessage]) -> Figure:
    def decode() -> None:
        decoded = decode_batch(messages, source_kind="postgres")
        if decoded.rows.num_rows != len(messages):
            raise RuntimeError(
                f"decode bench: {len(decoded.dead_letters)} of {len(messages)} events did not decode"
            )

    cpu, wall = [], []
    with one_core():
        for _ in range(ctx.sizes.repetitions):
            began_cpu, began_wall = time.thread_time(), time.perf_counter()
            decode()
            cpu.append(rate(len(messages), time.thread_time() - began_cpu))
            wall.append(round(rate(len(messages), time.perf_counter() - began_wall)))
    size = sum(len(m.value or b"") + len(m.key or b"") for m in messages) / len(messages)
    info = {
        "events": len(messages),
        "bytes_per_event": round(size),
        "wall_events_per_second": wall,
        "profile": top_functions(partial(decode_batch, messages[:PROFILED_EVENTS], source_kind="postgres")),
    }
    return Figure("events/s", tuple(cpu), info)


@case("decode", needs="nothing", keys=("decode.schemas_off", "decode.schemas_on"))
def decode_case(ctx: Context) -> Figures:
    """Decode one large batch with and without schemas."""
    batch = ctx.batches()[-1][1]
    return {
        "decode.schemas_off": _decode_figure(ctx, batch.messages(TOPIC, schemas=False)),
        "decode.schemas_on": _decode_figure(ctx, batch.messages(TOPIC, schemas=True)),
    }
