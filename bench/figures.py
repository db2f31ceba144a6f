"""Measured figures, their targets, and percentiles."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Figure:
    """One measured value. `met` is None when the figure has no target."""

    name: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None


@dataclass
class Section:
    """The figures of one benchmark, with the parameters it ran with and notes."""

    name: str
    parameters: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    series: dict[str, Any] = field(default_factory=dict)

    def add(
        self,
        name: str,
        value: float,
        unit: str,
        at_most: float | None = None,
        at_least: float | None = None,
    ) -> Figure:
        """Add a figure; at_most or at_least set its target."""
        target = ""
        met: bool | None = None
        if at_most is not None:
            target, met = f"<= {at_most:g} {unit}", value <= at_most
        elif at_least is not None:
            target, met = f">= {at_least:g} {unit}", value >= at_least
        figure = Figure(name, value, unit, target, met)
        self.figures.append(figure)
        return figure

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of values, or NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def milliseconds(values: list[float]) -> list[float]:
    return [value * 1000.0 for value in values]
