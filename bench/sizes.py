"""How big each run of the suite is: `full` (make bench), `quick` (make bench QUICK=1), `tiny` (make test).

Every mode writes the same JSON keys; the sizes behind a figure are recorded next to it. `full` is sized
for this 2-core machine to finish in under 15 minutes, `quick` in under 3, `tiny` in well under a minute
on a stack that is already running.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Mode = Literal["full", "quick", "tiny"]
MODES: tuple[Mode, ...] = ("full", "quick", "tiny")


@dataclass(frozen=True)
class Sizes:
    mode: Mode
    table_rows: int  # rows of the base table every merge targets
    small_batch: int  # events per batch: the `small_batch` figures
    large_batch: int  # events per batch: the `large_batch` figures (and the run process's memory)
    repetitions: int  # timed runs per figure; the figure is their median
    lag_rates: tuple[int, int]  # changes/s of the `low_rate` and `high_rate` lag figures
    lag_seconds: float  # how long each steady rate is held
    lag_catch_up_seconds: float  # how long, after the last change, the lake may take to show it
    lag_prime: bool  # first let a second of changes reach the lake and the start-up runs finish

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


SIZES: dict[Mode, Sizes] = {
    "full": Sizes("full", 1_000_000, 10_000, 100_000, 3, (1_000, 5_000), 180.0, 60.0, True),
    "quick": Sizes("quick", 50_000, 1_000, 10_000, 3, (1_000, 5_000), 10.0, 30.0, True),
    "tiny": Sizes("tiny", 2_000, 100, 1_000, 1, (20, 50), 3.0, 90.0, False),
}


def sizes_for(mode: str) -> Sizes:
    if mode not in SIZES:
        raise ValueError(f"{mode!r} is not a bench mode. Valid values are: {list(MODES)}")
    return SIZES[mode]
