"""A steady-rate change driver for the lag figures: multi-row statements, one transaction per tick, seeded.

The demo generator issues one statement per row change and cannot hold 5,000 changes/s here; this driver
commits every TICK seconds one transaction of `rate * TICK` row changes on `public.customers` of the demo
shop: 45% inserts (one multi-row INSERT), 45% updates and 10% deletes of rows it inserted itself (one
UPDATE ... FROM (VALUES ...), one DELETE ... = ANY), so no foreign key of the shop is ever in the way.
Pacing is against the start time: a slow commit is caught up, not lost.

Every inserted or updated row's `notes` is the transaction's marker `bench-<run>-<seq>`, zero-padded so
markers sort like their sequence numbers: the lake has caught up with transaction `seq` as soon as the
largest marker it shows is at least `seq`'s (the lake applies transactions in commit order).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

import psycopg2
from psycopg2.extras import Json, execute_values

TICK = 0.1
TABLE = "public.customers"
MIX = {"insert": 0.45, "update": 0.45, "delete": 0.10}


def marker(run: str, seq: int) -> str:
    return f"bench-{run}-{seq:09d}"


@dataclass(frozen=True)
class Commit:
    seq: int
    at: float  # time.time() right after COMMIT returned: the source commit, seen from the client
    changes: int


@dataclass(frozen=True)
class Drive:
    rate: int
    commits: tuple[Commit, ...]
    seconds: float

    @property
    def changes(self) -> int:
        return sum(c.changes for c in self.commits)

    @property
    def achieved_rate(self) -> float:
        return self.changes / self.seconds if self.seconds > 0 else 0.0


class SteadyDriver:
    """Drives `rate` changes/s for a while; several calls continue one sequence of markers and keys."""

    def __init__(self, dsn: str, run: str, seed: int = 5) -> None:
        self._conn = psycopg2.connect(dsn)
        self._run = run
        self._rng = random.Random(seed)
        self._live: list[int] = []
        self._seq = 0

    def close(self) -> None:
        self._conn.close()

    def drive(self, rate: int, seconds: float, stop: threading.Event | None = None) -> Drive:
        per_tick = max(1, round(rate * TICK))
        commits: list[Commit] = []
        began = time.monotonic()
        tick = 0
        while time.monotonic() - began < seconds and not (stop and stop.is_set()):
            delay = began + tick * TICK - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._seq += 1
            commits.append(Commit(self._seq, *self._transaction(per_tick)))
            tick += 1
        return Drive(rate, tuple(commits), time.monotonic() - began)

    def _transaction(self, changes: int) -> tuple[float, int]:
        rng, note = self._rng, marker(self._run, self._seq)
        deletes = min(round(changes * MIX["delete"]), len(self._live) // 2)
        updates = min(round(changes * MIX["update"]), len(self._live) - deletes)
        inserts = changes - deletes - updates
        picked = rng.sample(range(len(self._live)), deletes + updates)
        gone = [self._live[i] for i in picked[:deletes]]
        touched = [self._live[i] for i in picked[deletes:]]
        with self._conn.cursor() as cur:
            rows = [self._new_customer(note) for _ in range(inserts)]
            ids = execute_values(
                cur,
                f"insert into {TABLE} (first_name, last_name, email, phone, is_vip, birth_date, credit_limit, "
                "preferences, tags, notes) values %s returning id",
                rows,
                page_size=len(rows),
                fetch=True,
            )
            if touched:
                execute_values(
                    cur,
                    f"update {TABLE} c set notes = v.notes, credit_limit = v.credit, is_vip = v.vip "
                    "from (values %s) as v(id, notes, credit, vip) where c.id = v.id",
                    [(key, note, rng.randrange(100_000) / 100, rng.random() < 0.2) for key in touched],
                    template="(%s::bigint, %s, %s::numeric, %s::boolean)",
                    page_size=len(touched),
                )
            if gone:
                cur.execute(f"delete from {TABLE} where id = any(%s)", (gone,))
        self._conn.commit()
        at = time.time()
        for index in sorted(picked[:deletes], reverse=True):  # swap-remove the deleted keys
            self._live[index] = self._live[-1]
            self._live.pop()
        self._live.extend(row[0] for row in ids)
        return at, changes

    def _new_customer(self, note: str) -> tuple[object, ...]:
        rng = self._rng
        n = rng.getrandbits(32)
        return (
            f"First{n % 9973}", f"Last{n % 7919}", f"bench{n}@example.com",
            f"+1-555-{n % 10_000:04d}" if n & 1 else None, bool(n & 2), f"19{50 + n % 50}-0{1 + n % 9}-1{n % 9}",
            (n % 1_000_000) / 100, Json({"newsletter": bool(n & 4), "size": n % 50}), ["bench", f"t{n % 7}"], note,
        )  # fmt: skip
