"""The per-container cursor that keeps streamed Job logs free of duplicates and gaps (pure)."""

from __future__ import annotations

from airflow_k8s_workflows.operators.job_logs import JobLogStreamer, _Cursor, _Read, parse_log_timestamp


def test_timestamps_of_any_precision_compare_in_time_order() -> None:
    assert parse_log_timestamp("2026-01-02T03:04:05.123456789Z") == (1767323045, 123456789)
    assert parse_log_timestamp("2026-01-02T03:04:05.1Z") == (1767323045, 100000000)
    assert parse_log_timestamp("2026-01-02T03:04:05Z") == (1767323045, 0)
    assert parse_log_timestamp("2026-01-02T04:04:05.5+01:00") == (1767323045, 500000000)
    assert parse_log_timestamp("2026-01-02T03:04:05.9Z") > parse_log_timestamp("2026-01-02T03:04:05.123Z")  # type: ignore[operator]
    assert parse_log_timestamp("hello") is None


def test_a_second_read_writes_only_what_the_first_did_not() -> None:
    cursor = _Cursor()
    first = _Read(cursor)
    t1, t2 = (10, 1), (10, 2)
    # lines read together share a timestamp: a, b at t1; c at t2 (the first read stops after b)
    assert [first.is_new(t1), first.is_new(t1)] == [True, True]
    second = _Read(cursor)
    assert [second.is_new(t1), second.is_new(t1), second.is_new(t1), second.is_new(t2)] == [
        False,
        False,
        True,
        True,
    ]
    third = _Read(cursor)
    assert [third.is_new(t1)] * 1 == [False]
    assert third.is_new(t2) is False
    assert third.is_new((11, 0)) is True


def test_streamer_prefixes_lines_and_skips_repeats() -> None:
    lines: list[str] = []
    streamer = JobLogStreamer(None, "ns", "sel", emit=lines.append)
    pod = {"metadata": {"name": "job-abc", "uid": "u"}, "spec": {"containers": [{"name": "main"}]}}
    streamer._take_text(pod, "main", "2026-01-02T03:04:05.1Z one\n2026-01-02T03:04:05.2Z two\n")
    streamer._take_text(
        pod, "main", "2026-01-02T03:04:05.1Z one\n2026-01-02T03:04:05.2Z two\n2026-01-02T03:04:06Z three\n"
    )
    assert lines == ["[job-abc] one", "[job-abc] two", "[job-abc] three"]
    two = {
        "metadata": {"name": "job-x", "uid": "v"},
        "spec": {"initContainers": [{"name": "setup"}], "containers": [{"name": "main"}]},
    }
    streamer._take_text(two, "setup", "2026-01-02T03:04:05Z ready\n")
    assert lines[-1] == "[job-x/setup] ready"
