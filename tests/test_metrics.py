"""The server's view from vLLM's `/metrics`: parsing, histogram quantiles, a run between two scrapes, and
how bunched a stream's tokens were. The real-vLLM tier reads a real server's (tests/test_real_vllm.py)."""

from __future__ import annotations

import pytest

from endpoint.metrics import MetricsError, burst_share, histogram_quantile, parse_scrape, server_run
from endpoint.openai_http import StreamRecord
from tests.metrics_text import exposition


def test_a_run_is_the_difference_of_two_scrapes_for_the_served_model() -> None:
    before = parse_scrape(exposition(10, 500, [("0.1", 8), ("0.5", 10), ("+Inf", 10)], 0.9), 100.0, "tiny")
    after = parse_scrape(exposition(30, 1500, [("0.1", 18), ("0.5", 30), ("+Inf", 30)], 4.9), 110.0, "tiny")
    run = server_run(before, after)
    assert run["requests"] == 20
    assert run["outputTokens"] == 1000
    assert run["outputTokensPerSecond"] == 100.0
    assert run["ttftMs"]["mean"] == 200.0
    # 10 of the run's 20 first tokens under 0.1 s, the other 10 between 0.1 and 0.5 s.
    assert run["ttftMs"]["p50"] == 100.0
    assert run["ttftMs"]["p99"] == pytest.approx(492.0)
    assert run["tpotMs"] == {"mean": None, "p50": None, "p99": None}, "a histogram it did not publish"


def test_quantiles_read_buckets_as_prometheus_does() -> None:
    buckets = ((0.1, 50.0), (0.2, 100.0), (float("inf"), 100.0))
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.15)
    assert histogram_quantile(0.5, ((0.1, 0.0), (float("inf"), 4.0))) == 0.1, "above the last bound"
    assert histogram_quantile(0.5, ((0.1, 0.0), (float("inf"), 0.0))) is None


def test_text_that_is_not_vllms_is_refused_with_the_reason() -> None:
    with pytest.raises(MetricsError, match="holds no vLLM figures"):
        parse_scrape('python_gc_objects_collected_total{generation="0"} 1.0\n', 0.0)
    with pytest.raises(MetricsError, match="is not Prometheus text"):
        parse_scrape("<html>502 Bad Gateway</html>\n", 0.0)


def record(tokens: int, chunks: int) -> StreamRecord:
    return StreamRecord(0.0, tuple(0.1 * i for i in range(1, chunks + 1)), 1.0, tokens, 200)


def test_the_burst_share_is_the_least_share_of_tokens_that_came_bunched() -> None:
    assert burst_share([record(10, 10), record(10, 10)]) == 0.0
    # 10 tokens in 4 chunks: at least 7 of them shared one chunk.
    assert burst_share([record(10, 4), record(10, 10)]) == 0.35
    assert burst_share([]) is None
