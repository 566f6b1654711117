"""The demo change generator: its pure pieces (mix validation, progress line) and real runs against
PostgreSQL, checked against the database's own change stream (a test_decoding logical slot), which is what
Debezium reads.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg2
import pytest

from cdc_project.demo.changes import SHOP_TABLES
from cdc_project.demo.generator import (
    GeneratorStats,
    TableChanges,
    WorkloadMix,
    format_progress,
    run_generator,
)
from cdc_project.demo.seed import SeedCounts

_CHANGE = re.compile(r"^table public\.(\w+): (INSERT|UPDATE|DELETE): (?:id\[\w+\]:(\d+))?")
_OPS = {"INSERT": "insert", "UPDATE": "update", "DELETE": "delete"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"insert": -1.0}, "must be >= 0"),  # negative weight
        ({"insert": 0.0, "update": 0.0, "delete": 0.0}, "not all zero"),  # nothing to do
        ({"burst_probability": 1.5}, "within \\[0, 1\\]"),
        ({"burst_size": 1}, "at least 2"),  # one update is not a burst
    ],
)
def test_workload_mix_rejects_invalid(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkloadMix(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("stats", "line"),
    [
        (GeneratorStats(), "generator: 0 changes (0 ins, 0 upd, 0 del) 0.0/s"),  # before the first second
        (
            GeneratorStats((TableChanges("orders", 610, 520, 104),), elapsed_seconds=24.78),
            "generator: 1234 changes (610 ins, 520 upd, 104 del) 49.8/s",
        ),
        (
            GeneratorStats((TableChanges("orders", 2, 0, 0),), errors=1, elapsed_seconds=1.0),
            "generator: 2 changes (2 ins, 0 upd, 0 del) 2.0/s, 1 errors",  # errors shown only when some
        ),
    ],
)
def test_format_progress_line(stats: GeneratorStats, line: str) -> None:
    assert format_progress(stats) == line


@dataclass(frozen=True)
class Decoded:
    rows: Counter[tuple[str, str]]
    transactions: list[list[tuple[str, str, str | None]]]


@pytest.fixture()
def change_stream(source_dsn: str, seeded_shop: SeedCounts) -> Iterator[Callable[[], Decoded]]:
    """A logical slot created after seeding; calling the fixture decodes everything committed since."""
    slot = f"demo_test_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(source_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (slot,))

    def decode() -> Decoded:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT data FROM pg_logical_slot_get_changes(%s, NULL, NULL, 'skip-empty-xacts', '1')",
                (slot,),
            )
            lines = [r[0] for r in cur.fetchall()]
        rows: Counter[tuple[str, str]] = Counter()
        transactions: list[list[tuple[str, str, str | None]]] = []
        for line in lines:
            if line.startswith("BEGIN"):
                transactions.append([])
            elif match := _CHANGE.match(line):
                table, op, key = match.group(1), _OPS[match.group(2)], match.group(3)
                rows[(table, op)] += 1
                transactions[-1].append((table, op, key))
        return Decoded(rows, transactions)

    try:
        yield decode
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        conn.close()


def _counts(dsn: str) -> dict[str, int]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        counts = {}
        for table in SHOP_TABLES:
            cur.execute(f"SELECT count(*) FROM public.{table}")
            counts[table] = cur.fetchone()[0]
    conn.close()
    return counts


def test_generator_matches_the_change_stream(source_dsn: str, change_stream: Callable[[], Decoded]) -> None:
    before = _counts(source_dsn)
    mix = WorkloadMix(insert=0.45, update=0.35, delete=0.2, burst_probability=0.25, burst_size=4)
    reports: list[GeneratorStats] = []
    stats = run_generator(source_dsn, rate=60, duration=3.0, mix=mix, seed=3, progress=reports.append)
    decoded = change_stream()
    after = _counts(source_dsn)

    assert stats.errors == 0
    assert stats.inserts > 0 and stats.updates > 0 and stats.deletes > 0 and stats.bursts > 0
    assert 30 <= stats.rate <= 90, f"asked for 60 changes/s, made {stats.rate:.1f}/s"
    assert len(reports) >= 3 and reports[-1] == stats  # about one report a second, then the final one
    for table in SHOP_TABLES:
        t = stats.table(table)
        assert after[table] - before[table] == t.inserts - t.deletes, table
        # Every change the generator counted is in the WAL, cascaded deletes of order lines included.
        in_wal = tuple(decoded.rows[(table, op)] for op in ("insert", "update", "delete"))
        assert in_wal == (t.inserts, t.updates, t.deletes), table
    assert sum(len(tx) for tx in decoded.transactions) == stats.changes
    # Some transactions span several tables (an order with its lines).
    assert any(len({table for table, _, _ in tx}) > 1 for tx in decoded.transactions)
    if stats.single_transaction_bursts:
        same_key = [Counter((t, k) for t, op, k in tx if op == "update") for tx in decoded.transactions]
        assert any(c and max(c.values()) >= mix.burst_size for c in same_key)
    if stats.bursts > stats.single_transaction_bursts:
        singles = [tx[0] for tx in decoded.transactions if len(tx) == 1 and tx[0][1] == "update"]
        runs = [singles[i : i + mix.burst_size] for i in range(len(singles) - mix.burst_size + 1)]
        assert any(len(set(run)) == 1 for run in runs), "no burst of separate transactions on one key"


@pytest.mark.parametrize(
    ("mix", "expect"),
    [
        # only inserts: the order total written in the same transaction is the one update
        (WorkloadMix(1.0, 0.0, 0.0, 0.0), {"insert", "update:orders"}),
        (WorkloadMix(0.0, 1.0, 0.0, 0.0), {"update"}),
        (WorkloadMix(0.0, 0.0, 1.0, 0.0), {"delete"}),
    ],
)
def test_generator_follows_the_mix(
    source_dsn: str, seeded_shop: SeedCounts, mix: WorkloadMix, expect: set[str]
) -> None:
    stats = run_generator(source_dsn, rate=200, duration=1.0, mix=mix, seed=1)
    made = {
        f"{op}:{t.table}" if f"{op}:{t.table}" in expect else op
        for t in stats.tables
        for op, n in (("insert", t.inserts), ("update", t.updates), ("delete", t.deletes))
        if n
    }
    assert stats.errors == 0 and stats.bursts == 0
    assert made == expect


def test_generator_stops_on_event(source_dsn: str, seeded_shop: SeedCounts) -> None:
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    stats = run_generator(source_dsn, rate=20, duration=None, stop=stop)
    assert time.monotonic() - started < 2.0
    assert stats.changes > 0


def test_generator_cli_prints_a_line_per_second(source_dsn: str, seeded_shop: SeedCounts) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cdc_project.demo.generator", "--rate", "40", "--duration", "2.5"]
        + ["--dsn", source_dsn],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    # stdout is a pipe, not a terminal: one report per line, no carriage returns.
    assert "\r" not in result.stdout
    progress = [line for line in result.stdout.splitlines() if re.match(r"generator: \d+ changes \(", line)]
    assert len(progress) >= 2
    assert result.stdout.splitlines()[-1].startswith("generator: done")
