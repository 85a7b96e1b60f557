"""Judging a PromQL instant-query result against a threshold (pure; the sensor and its trigger
share it, so the poke and the deferred path agree).

``data`` is the ``data`` member of Prometheus' ``/api/v1/query`` answer::

    condition = Condition(comparison=">=", threshold=2, mode="all", empty_result="fail")
    result = evaluate({"resultType": "vector", "result": [
        {"metric": {"deployment": "web"}, "value": [1712000000.0, "3"]}]}, condition, query="...")
    result.satisfied        # True
    result.summary          # '1 of 1 series satisfy >= 2 (need all): {deployment="web"}=3'
    result.samples_for_xcom()

Instant vectors are judged series by series (``mode="all"``: every series must pass, ``"any"``:
one is enough); a scalar is one series without labels. A range vector (``x[5m]``) or a string
cannot be compared and raises :class:`QueryResultError`, as do ``NaN`` values (typically a
division by zero: a ratio over no traffic) and an empty vector with ``empty_result="fail"``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "COMPARISONS",
    "EMPTY_RESULTS",
    "MODES",
    "Condition",
    "Evaluation",
    "PromQLError",
    "QueryResultError",
    "Sample",
    "evaluate",
    "parse_samples",
    "parse_threshold",
]

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
MODES = ("all", "any")
EMPTY_RESULTS = ("fail", "false", "true")
_SHOWN = 5


class PromQLError(Exception):
    """Prometheus refused or failed the query (its ``errorType`` and ``error`` text)."""

    def __init__(self, error_type: str, error: str, query: str) -> None:
        what = "invalid PromQL" if error_type == "bad_data" else f"query failed ({error_type})"
        super().__init__(f"Prometheus: {what}: {error} — query: {query}")
        self.error_type = error_type
        self.error = error
        self.query = query

    @property
    def bad_query(self) -> bool:
        """The query itself is wrong (retrying cannot help)."""
        return self.error_type == "bad_data"


class QueryResultError(Exception):
    """The query ran, but its result cannot be judged (empty, NaN, range vector, string)."""


def parse_threshold(value: Any) -> float:
    """``threshold`` as a float; numbers or numeric strings, never NaN or a bool."""
    if isinstance(value, bool):
        raise ValueError(f"threshold: must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"threshold: must be a number, got {value!r}")
    if math.isnan(number):
        raise ValueError("threshold: must be a number, got NaN")
    return number


@dataclass(frozen=True)
class Condition:
    """What the sensor waits for; the constructor validates and names the bad parameter."""

    comparison: str = ">"
    threshold: float = 0.0
    mode: str = "all"
    empty_result: str = "fail"

    def __post_init__(self) -> None:
        if self.comparison not in COMPARISONS:
            raise ValueError(f"comparison: must be one of {' '.join(COMPARISONS)}, got {self.comparison!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode: must be 'all' or 'any', got {self.mode!r}")
        if self.empty_result not in EMPTY_RESULTS:
            raise ValueError(f"empty_result: must be 'fail', 'false' or 'true', got {self.empty_result!r}")
        object.__setattr__(self, "threshold", parse_threshold(self.threshold))

    def passes(self, value: float) -> bool:
        return COMPARISONS[self.comparison](value, self.threshold)

    def describe(self) -> str:
        return f"{self.comparison} {_format(self.threshold)} (need {self.mode})"


def _format(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.15g}"


@dataclass(frozen=True)
class Sample:
    """One series of the result: its labels, value and evaluation timestamp (Unix seconds)."""

    metric: Mapping[str, str]
    value: float
    timestamp: float

    def series(self) -> str:
        """``name{label="value",...}`` as PromQL prints it (``{}`` for a scalar)."""
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(self.metric.items()) if k != "__name__")
        return f"{self.metric.get('__name__', '')}{{{labels}}}"


def _number(raw: Any, series: str) -> float:
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise QueryResultError(f"series {series} has a non-numeric value {raw!r}")


def parse_samples(data: Mapping[str, Any]) -> list[Sample]:
    """The samples of an instant-vector or scalar result; other result types raise."""
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar" and isinstance(result, list) and len(result) == 2:
        return [Sample({}, _number(result[1], "{} (scalar)"), float(result[0]))]
    if kind == "vector" and isinstance(result, list):
        samples = []
        for item in result:
            metric = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
            ts, raw = item.get("value") or (0, None)
            probe = Sample(metric, 0.0, 0.0)
            samples.append(Sample(metric, _number(raw, probe.series()), float(ts)))
        return samples
    if kind == "matrix":
        raise QueryResultError(
            "the query returns a range vector (matrix), which cannot be compared with a threshold: "
            "use an instant vector, e.g. wrap the range selector in rate(), max_over_time() or last_over_time()"
        )
    if kind == "string":
        raise QueryResultError("the query returns a string, which cannot be compared with a threshold")
    raise QueryResultError(f"unexpected Prometheus result type {kind!r}")


@dataclass(frozen=True)
class Evaluation:
    """The verdict over all series, with the per-series outcome."""

    satisfied: bool
    samples: tuple[Sample, ...]
    passed: tuple[bool, ...]
    summary: str

    def samples_for_xcom(self) -> list[dict[str, Any]]:
        """JSON-safe samples: ``{"metric", "value", "timestamp", "satisfied"}``; ±Inf as strings."""
        return [
            {
                "metric": dict(s.metric),
                "value": s.value if math.isfinite(s.value) else _format(s.value),
                "timestamp": s.timestamp,
                "satisfied": ok,
            }
            for s, ok in zip(self.samples, self.passed, strict=True)
        ]


def evaluate(data: Mapping[str, Any], condition: Condition, *, query: str) -> Evaluation:
    """Judge ``data`` (an ``/api/v1/query`` ``data`` member) against ``condition``."""
    samples = parse_samples(data)
    if not samples:
        if condition.empty_result == "fail":
            raise QueryResultError(
                f"the query returned no series: {query} — check the metric and label names, or set "
                "empty_result='false' to keep waiting (or 'true' to treat no series as success)"
            )
        satisfied = condition.empty_result == "true"
        return Evaluation(satisfied, (), (), f"no series; empty_result={condition.empty_result!r}")
    nans = [s.series() for s in samples if math.isnan(s.value)]
    if nans:
        shown = ", ".join(nans[:_SHOWN]) + (f" and {len(nans) - _SHOWN} more" if len(nans) > _SHOWN else "")
        raise QueryResultError(
            f"the query returned NaN (not a number) for {shown}: typically a division by zero, e.g. a ratio "
            f"over no traffic; guard the query (e.g. `... > 0` on the divisor) — query: {query}"
        )
    passed = tuple(condition.passes(s.value) for s in samples)
    satisfied = all(passed) if condition.mode == "all" else any(passed)
    shown_samples = sorted(zip(samples, passed, strict=True), key=lambda sp: sp[1])[:_SHOWN]
    detail = ", ".join(f"{s.series()}={_format(s.value)}" for s, _ in shown_samples)
    more = f" and {len(samples) - _SHOWN} more" if len(samples) > _SHOWN else ""
    summary = f"{sum(passed)} of {len(samples)} series satisfy {condition.describe()}: {detail}{more}"
    return Evaluation(satisfied, tuple(samples), passed, summary)
