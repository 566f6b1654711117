"""What every case gets: the sizes, the shared workload, a scratch directory and the services.

Batch order is the same for every consumer (ceiling, ingest per sink, each peer): `repetitions` small
batches, then `repetitions` large ones, each applied to that consumer's own copy of the base table, so the
k-th timed run of every consumer merges the same events into the same table state.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pyarrow as pa

from bench.sizes import Sizes
from bench.stack import StackHandle
from bench.workload import Batch, Workload

BatchLabel = Literal["small_batch", "large_batch"]
LABELS: tuple[BatchLabel, ...] = ("small_batch", "large_batch")


@dataclass
class Context:
    sizes: Sizes
    workload: Workload
    work_dir: Path
    stack: StackHandle
    echo: Callable[[str], None] = print
    _decoded: dict[int, pa.Table] = field(default_factory=dict, repr=False)

    def batches(self) -> list[tuple[BatchLabel, Batch]]:
        """Every consumer's timed batches, in the order it must apply them."""
        reps = self.sizes.repetitions
        small = [("small_batch", self.workload.batch(i, self.sizes.small_batch)) for i in range(reps)]
        large = [("large_batch", self.workload.batch(reps + i, self.sizes.large_batch)) for i in range(reps)]
        return small + large  # type: ignore[return-value]

    def batch_size(self, label: BatchLabel) -> int:
        return self.sizes.small_batch if label == "small_batch" else self.sizes.large_batch

    def decoded(self, batch: Batch) -> pa.Table:
        """The batch decoded once (schemas on): what ceiling and peers are fed."""
        if batch.index not in self._decoded:
            self._decoded[batch.index] = batch.decoded()
        return self._decoded[batch.index]

    def scratch(self, name: str) -> Path:
        """An empty directory for one case; removed again when the suite ends."""
        path = self.work_dir / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path
