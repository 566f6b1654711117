"""Named benchmark cases, the figures they produce, and the repetition rule every figure follows.

A case is a function registered under a dotted name with the services it needs (`needs`): the suite runs
the cases that need nothing first, then those needing PostgreSQL and the broker, then those needing the
whole live stack, so each group of services is started once. A case returns a mapping of figure names to
figures; a figure is a `Figure` (median/min/max over repetitions), a `Measured` (one set of values, such as
lag percentiles), or `NotAvailable` (the thing to measure does not exist yet: say why, never a number). A
case that raises gets `Failed` for each of its keys.

Adding a case: write a module under bench/cases/, decorate a function `(ctx: Context) -> Figures` with
`@case("family.name", needs=...)`, and import the module in bench/cases/__init__.py.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    from bench.context import Context

Needs = Literal["nothing", "broker", "stack"]
NEEDS_ORDER: tuple[Needs, ...] = ("nothing", "broker", "stack")


@dataclass(frozen=True)
class Figure:
    """A throughput figure: the median of at least `repetitions` timed runs, with min and max."""

    unit: str
    samples: tuple[float, ...]
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "median": round(self.median, 3),
            "min": round(min(self.samples), 3),
            "max": round(max(self.samples), 3),
            "samples": [round(s, 3) for s in self.samples],
            **self.info,
        }


@dataclass(frozen=True)
class Measured:
    """Values measured once over a long window (lag percentiles, peak memory), with their unit."""

    unit: str
    values: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"unit": self.unit, **self.values}


@dataclass(frozen=True)
class NotAvailable:
    """What cannot be measured yet, and why; the JSON says so instead of carrying a number."""

    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"status": "not available", "reason": self.reason}


@dataclass(frozen=True)
class Failed:
    """A case that raised: the suite goes on with the others and exits non-zero at the end."""

    error: str

    def to_json(self) -> dict[str, Any]:
        return {"status": "failed", "error": self.error}


Result: TypeAlias = Figure | Measured | NotAvailable | Failed
Figures: TypeAlias = dict[str, Result]


@dataclass(frozen=True)
class Case:
    name: str
    needs: Needs
    run: Callable[[Context], Figures]
    keys: tuple[str, ...]  # the figure names it produces: the JSON has every one, measured or not

    @property
    def doc(self) -> str:
        return (self.run.__doc__ or "").strip().splitlines()[0] if self.run.__doc__ else ""


CASES: dict[str, Case] = {}


def case(
    name: str, *, needs: Needs, keys: Iterable[str]
) -> Callable[[Callable[[Context], Figures]], Callable[[Context], Figures]]:
    """Register a case; `keys` lists every figure it returns (NotAvailable included)."""

    def register(run: Callable[[Context], Figures]) -> Callable[[Context], Figures]:
        if name in CASES:
            raise ValueError(f"bench case {name!r} is registered twice")
        CASES[name] = Case(name, needs, run, tuple(keys))
        return run

    return register


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def timed(fn: Callable[[], object]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began
