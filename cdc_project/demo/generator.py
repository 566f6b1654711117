"""A change generator for the demo shop: inserts, updates, deletes and same-key bursts at a steady rate.

The rate counts row changes (what Debezium emits), not statements: an order with three lines is five
changes (insert, total update, three line inserts). Pacing is against the start time, so a slow statement or
a burst is caught up afterwards instead of lowering the average.

    python -m cdc_project.demo.generator --rate 50 --duration 30 --dsn postgresql://cdc@127.0.0.1:25432/shop
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import psycopg2
import psycopg2.extensions
from faker import Faker

from cdc_project.demo.changes import OPERATIONS, SHOP_TABLES, Op, Operation, Outcome, burst
from cdc_project.demo.seed import local_source_dsn


@dataclass(frozen=True)
class WorkloadMix:
    """Relative weights of the three kinds of change, and how often a step is a burst on one key instead."""

    insert: float = 0.45
    update: float = 0.45
    delete: float = 0.10
    burst_probability: float = 0.05
    burst_size: int = 5

    def __post_init__(self) -> None:
        weights = {"insert": self.insert, "update": self.update, "delete": self.delete}
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError(f"mix weights must be >= 0 and not all zero, got {weights}")
        if not 0.0 <= self.burst_probability <= 1.0:
            raise ValueError(f"burst_probability={self.burst_probability} must be within [0, 1]")
        if self.burst_size < 2:
            raise ValueError(f"burst_size={self.burst_size} must be at least 2: a burst is several updates")


@dataclass(frozen=True)
class TableChanges:
    table: str
    inserts: int = 0
    updates: int = 0
    deletes: int = 0


@dataclass(frozen=True)
class GeneratorStats:
    """Row changes made so far, per table; `errors` counts transactions the database refused (rolled back)."""

    tables: tuple[TableChanges, ...] = ()
    transactions: int = 0
    bursts: int = 0
    single_transaction_bursts: int = 0
    errors: int = 0
    elapsed_seconds: float = 0.0

    @property
    def inserts(self) -> int:
        return sum(t.inserts for t in self.tables)

    @property
    def updates(self) -> int:
        return sum(t.updates for t in self.tables)

    @property
    def deletes(self) -> int:
        return sum(t.deletes for t in self.tables)

    @property
    def changes(self) -> int:
        return self.inserts + self.updates + self.deletes

    @property
    def rate(self) -> float:
        return self.changes / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def table(self, name: str) -> TableChanges:
        return next((t for t in self.tables if t.table == name), TableChanges(name))


def format_progress(stats: GeneratorStats) -> str:
    line = (
        f"generator: {stats.changes} changes ({stats.inserts} ins, {stats.updates} upd, {stats.deletes} del) "
        f"{stats.rate:.1f}/s"
    )
    return f"{line}, {stats.errors} errors" if stats.errors else line


@dataclass
class _Tally:
    """The mutable side of GeneratorStats, owned by one run."""

    rows: Counter[tuple[str, Op]] = field(default_factory=Counter)
    transactions: int = 0
    bursts: int = 0
    single_transaction_bursts: int = 0
    errors: int = 0

    def add(self, outcome: Outcome) -> int:
        for change in outcome.changes:
            self.rows[(change.table, change.op)] += change.rows
        self.transactions += outcome.transactions
        return sum(c.rows for c in outcome.changes)

    def snapshot(self, elapsed: float) -> GeneratorStats:
        names = sorted({t for t, _ in self.rows} | set(SHOP_TABLES))
        tables = tuple(
            TableChanges(n, self.rows[(n, "insert")], self.rows[(n, "update")], self.rows[(n, "delete")])
            for n in names
        )
        return GeneratorStats(
            tables, self.transactions, self.bursts, self.single_transaction_bursts, self.errors, elapsed
        )


def _choose(rng: random.Random, mix: WorkloadMix) -> Operation:
    kinds: list[Op] = ["insert", "update", "delete"]
    kind = rng.choices(kinds, weights=[mix.insert, mix.update, mix.delete])[0]
    operations = OPERATIONS[kind]
    return rng.choices([op for op, _ in operations], weights=[w for _, w in operations])[0]


def run_generator(
    dsn: str,
    *,
    rate: float,
    duration: float | None,
    mix: WorkloadMix = WorkloadMix(),
    seed: int = 7,
    progress: Callable[[GeneratorStats], None] | None = None,
    stop: threading.Event | None = None,
    progress_interval: float = 1.0,
) -> GeneratorStats:
    """Make changes at `rate` row changes per second until `duration` seconds pass or `stop` is set."""
    if rate <= 0:
        raise ValueError(f"rate={rate} must be a positive number of changes per second")
    stop = stop or threading.Event()
    rng = random.Random(seed)
    fake = Faker()
    fake.seed_instance(seed)
    tally = _Tally()
    conn = psycopg2.connect(dsn)
    start = time.monotonic()
    next_report = start + progress_interval
    try:
        while not stop.is_set():
            now = time.monotonic()
            if duration is not None and now - start >= duration:
                break
            try:
                if rng.random() < mix.burst_probability:
                    one_transaction = rng.random() < 0.5
                    made = tally.add(burst(conn, rng, mix.burst_size, one_transaction=one_transaction))
                    tally.bursts += 1
                    tally.single_transaction_bursts += one_transaction
                else:
                    made = tally.add(_choose(rng, mix)(conn, rng, fake))
            except (psycopg2.IntegrityError, psycopg2.extensions.TransactionRollbackError):
                # Only possible when something else writes to the shop concurrently; `with conn` rolled back.
                tally.errors += 1
                made = 0
            if progress is not None and now >= next_report:
                progress(tally.snapshot(time.monotonic() - start))
                next_report = now + progress_interval
            # Sleep until the schedule for the changes made so far (stop.wait returns early on stop). A step
            # that changed nothing (an empty table) still waits one slot, so an empty shop is not a busy loop.
            due = start + sum(tally.rows.values()) / rate if made else time.monotonic() + 1 / rate
            if due > time.monotonic():
                stop.wait(due - time.monotonic())
    finally:
        conn.close()
    stats = tally.snapshot(time.monotonic() - start)
    if progress is not None:
        progress(stats)
    return stats


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m cdc_project.demo.generator", description=run_generator.__doc__
    )
    parser.add_argument("--dsn", default=None, help="source database (default: the local stack's)")
    parser.add_argument("--rate", type=float, default=50.0, help="row changes per second")
    parser.add_argument("--duration", type=float, default=None, help="seconds (default: until Ctrl-C)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--insert", type=float, default=WorkloadMix.insert, help="relative weight of inserts")
    parser.add_argument("--update", type=float, default=WorkloadMix.update, help="relative weight of updates")
    parser.add_argument("--delete", type=float, default=WorkloadMix.delete, help="relative weight of deletes")
    parser.add_argument("--burst-probability", type=float, default=WorkloadMix.burst_probability)
    parser.add_argument("--burst-size", type=int, default=WorkloadMix.burst_size)
    args = parser.parse_args(argv)
    mix = WorkloadMix(args.insert, args.update, args.delete, args.burst_probability, args.burst_size)
    # On a terminal the line rewrites itself; in a log every report is its own line.
    end = "\r" if sys.stdout.isatty() else "\n"

    def report(stats: GeneratorStats) -> None:
        print(format_progress(stats), end=end, flush=True)

    stop = threading.Event()
    # Ctrl-C ends the run between transactions, so the final line still reports what was committed.
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stats = run_generator(
        args.dsn or local_source_dsn(),
        rate=args.rate,
        duration=args.duration,
        mix=mix,
        seed=args.seed,
        progress=report,
        stop=stop,
    )
    if end == "\r":
        print()
    print(f"generator: done, {stats.transactions} transactions, {stats.bursts} bursts")


if __name__ == "__main__":
    main()
