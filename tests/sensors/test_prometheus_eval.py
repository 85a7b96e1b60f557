"""The pure judgement of a PromQL result, shared by the sensor's poke and its trigger."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_k8s_workflows.monitoring.promql import Condition, QueryResultError, evaluate, parse_threshold

TS = 1_800_000_000.0


def vector(*values: tuple[str, str]) -> dict[str, Any]:
    return {
        "resultType": "vector",
        "result": [{"metric": {"__name__": "m", "deployment": name}, "value": [TS, v]} for name, v in values],
    }


@pytest.mark.parametrize(
    ("comparison", "threshold", "expected"),
    [(">", 2, [False, True]), (">=", 2, [True, True]), ("<", 3, [True, False]), ("<=", 2, [True, False]),
     ("==", 2, [True, False]), ("!=", 2, [False, True])],
)  # fmt: skip
def test_each_comparison_per_series(comparison: str, threshold: float, expected: list[bool]) -> None:
    data = vector(("a", "2"), ("b", "3"))
    every = evaluate(data, Condition(comparison, threshold, "all"), query="m")
    some = evaluate(data, Condition(comparison, threshold, "any"), query="m")
    assert list(every.passed) == expected
    assert every.satisfied is all(expected)
    assert some.satisfied is any(expected)


def test_summary_and_xcom_show_each_series_failing_first() -> None:
    verdict = evaluate(vector(("a", "3"), ("b", "1")), Condition(">=", 2, "all"), query="m")
    assert (
        verdict.summary == '1 of 2 series satisfy >= 2 (need all): m{deployment="b"}=1, m{deployment="a"}=3'
    )
    assert verdict.samples_for_xcom() == [
        {"metric": {"__name__": "m", "deployment": "a"}, "value": 3.0, "timestamp": TS, "satisfied": True},
        {"metric": {"__name__": "m", "deployment": "b"}, "value": 1.0, "timestamp": TS, "satisfied": False},
    ]


def test_scalar_is_one_series_and_infinity_stays_json_safe() -> None:
    verdict = evaluate({"resultType": "scalar", "result": [TS, "+Inf"]}, Condition(">", 1e308), query="1/0")
    assert verdict.satisfied
    assert verdict.samples_for_xcom() == [{"metric": {}, "value": "+Inf", "timestamp": TS, "satisfied": True}]


@pytest.mark.parametrize(("empty_result", "satisfied"), [("false", False), ("true", True)])
def test_empty_vector_counts_as_configured(empty_result: str, satisfied: bool) -> None:
    verdict = evaluate(vector(), Condition(">", 0, "all", empty_result), query="m")
    assert verdict.satisfied is satisfied
    assert verdict.samples_for_xcom() == []


def test_empty_vector_fails_by_default_naming_the_query() -> None:
    with pytest.raises(QueryResultError, match=r"returned no series: nope\{a=\"b\"\} — check the metric"):
        evaluate(vector(), Condition(">", 0), query='nope{a="b"}')


def test_nan_is_an_error_naming_the_series() -> None:
    with pytest.raises(
        QueryResultError, match=r'returned NaN \(not a number\) for m\{deployment="b"\}: typically'
    ):
        evaluate(vector(("a", "1"), ("b", "NaN")), Condition(">", 0, "any"), query="m")


@pytest.mark.parametrize(
    ("data", "message"),
    [({"resultType": "matrix", "result": []}, "range vector \\(matrix\\).*last_over_time"),
     ({"resultType": "string", "result": [TS, "x"]}, "returns a string")],
)  # fmt: skip
def test_results_that_cannot_be_compared(data: dict[str, Any], message: str) -> None:
    with pytest.raises(QueryResultError, match=message):
        evaluate(data, Condition(">", 0), query="q")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"comparison": "=>"}, "comparison: must be one of > >= < <= == !=, got '=>'"),
     ({"mode": "most"}, "mode: must be 'all' or 'any', got 'most'"),
     ({"empty_result": "skip"}, "empty_result: must be 'fail', 'false' or 'true', got 'skip'"),
     ({"threshold": "many"}, "threshold: must be a number, got 'many'"),
     ({"threshold": True}, "threshold: must be a number, got True"),
     ({"threshold": float("nan")}, "threshold: must be a number, got NaN")],
)  # fmt: skip
def test_condition_validation_names_the_parameter(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as e:
        Condition(**kwargs)
    assert str(e.value) == message


def test_numeric_strings_are_thresholds() -> None:
    assert parse_threshold("2.5") == 2.5
    assert Condition(">", "3").threshold == 3.0  # type: ignore[arg-type]
