"""vLLM's own view of its work, from its Prometheus `/metrics` (node-api forwards it like any path).

A client on a busy server or behind a buffering proxy sees tokens arrive in bursts, which skews its
ITL and TPOT; the server times each token where it is made. Two scrapes, before and after a run, give
the server's figures for the requests in between: counters as differences, latencies from histogram
buckets as Prometheus' `histogram_quantile` reads them (linear within a bucket).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from endpoint.openai_http import Clock, StreamRecord, Target, Unreachable, request

PREFIX = "vllm:"
# The server's latency histograms, by the key the tools use for the same figure.
HISTOGRAMS = {"ttftMs": "vllm:time_to_first_token_seconds",
              "tpotMs": "vllm:request_time_per_output_token_seconds",
              "itlMs": "vllm:inter_token_latency_seconds",
              "e2eLatencyMs": "vllm:e2e_request_latency_seconds"}
COUNTERS = {"requests": "vllm:request_success_total", "promptTokens": "vllm:prompt_tokens_total",
            "outputTokens": "vllm:generation_tokens_total", "preemptions": "vllm:num_preemptions_total",
            "prefixCacheQueries": "vllm:prefix_cache_queries_total",
            "prefixCacheHits": "vllm:prefix_cache_hits_total"}
GAUGES = {"running": "vllm:num_requests_running", "waiting": "vllm:num_requests_waiting",
          "kvCacheUsage": "vllm:kv_cache_usage_perc"}


class MetricsError(Exception):
    """`/metrics` could not be read or is not vLLM's."""


@dataclass(frozen=True)
class Scrape:
    """One reading of `/metrics`: each vLLM sample summed over its labels (`le` kept for buckets)."""

    at: float
    values: Mapping[str, float]
    buckets: Mapping[str, tuple[tuple[float, float], ...]]

    def value(self, name: str) -> float:
        return self.values.get(name, 0.0)


def parse_scrape(text: str, at: float, model: str | None = None) -> Scrape:
    """The vLLM samples of a Prometheus text exposition; with `model`, only that served model's."""
    values: dict[str, float] = {}
    buckets: dict[str, dict[float, float]] = {}
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as error:
        raise MetricsError(f"/metrics is not Prometheus text: {error}") from None
    for family in families:
        for sample in family.samples:
            if not sample.name.startswith(PREFIX):
                continue
            if model is not None and sample.labels.get("model_name", model) != model:
                continue
            if sample.name.endswith("_bucket"):
                upper = float(sample.labels["le"])
                found = buckets.setdefault(sample.name.removesuffix("_bucket"), {})
                found[upper] = found.get(upper, 0.0) + sample.value
            else:
                values[sample.name] = values.get(sample.name, 0.0) + sample.value
    if not values:
        raise MetricsError("/metrics holds no vLLM figures (is this a vLLM server?)")
    return Scrape(at, values, {name: tuple(sorted(b.items())) for name, b in buckets.items()})


def read_scrape(target: Target, clock: Clock, model: str | None = None) -> Scrape:
    """`/metrics` beside the OpenAI base URL, with the same headers (node-api routes it to the node)."""
    root = replace(target, base_url=target.base_url.removesuffix("/").removesuffix("/v1"))
    try:
        answer = request(root, "GET", "/metrics")
    except Unreachable as error:
        raise MetricsError(f"/metrics did not answer: {error}") from None
    if answer.status != 200:
        raise MetricsError(f"/metrics answered HTTP {answer.status}")
    return parse_scrape(answer.text, clock(), model)


def histogram_quantile(q: float, buckets: tuple[tuple[float, float], ...]) -> float | None:
    """The q-quantile of cumulative `(upper bound, count)` buckets, as Prometheus estimates it."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * ((rank - below) / (count - below) if count > below else 0.0)
        lower, below = upper, count
    return lower


def _between(before: tuple[tuple[float, float], ...], after: tuple[tuple[float, float], ...]
             ) -> tuple[tuple[float, float], ...]:
    earlier = dict(before)
    return tuple((upper, count - earlier.get(upper, 0.0)) for upper, count in after)


def server_run(before: Scrape, after: Scrape) -> dict[str, Any]:
    """What the server did between two scrapes: counts, and latencies in ms (mean, p50, p99)."""
    run: dict[str, Any] = {key: round(after.value(name) - before.value(name))
                           for key, name in COUNTERS.items()}
    for key, name in HISTOGRAMS.items():
        count = after.value(f"{name}_count") - before.value(f"{name}_count")
        total = after.value(f"{name}_sum") - before.value(f"{name}_sum")
        buckets = _between(before.buckets.get(name, ()), after.buckets.get(name, ()))
        run[key] = {"mean": _ms(total / count) if count > 0 else None,
                    "p50": _ms(histogram_quantile(0.5, buckets)),
                    "p99": _ms(histogram_quantile(0.99, buckets))}
    seconds = after.at - before.at
    run["seconds"] = round(seconds, 3)
    run["outputTokensPerSecond"] = round(run["outputTokens"] / seconds, 3) if seconds > 0 else None
    run["promptTokensPerSecond"] = round(run["promptTokens"] / seconds, 3) if seconds > 0 else None
    queries = run["prefixCacheQueries"]
    run["prefixCacheHitRate"] = round(run["prefixCacheHits"] / queries, 4) if queries else None
    return run


def gauges(scrape: Scrape) -> dict[str, float]:
    """Right now: requests running and waiting, and the share of the KV cache in use."""
    return {key: scrape.value(name) for key, name in GAUGES.items()}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def burst_share(records: Sequence[StreamRecord]) -> float | None:
    """The least share of output tokens that arrived in chunks of several tokens.

    vLLM streams a token a chunk; a request with T tokens in C < T chunks had at least T - C + 1 of
    them in one chunk. Those tokens' gaps are zero to the client, so its ITL and TPOT understate the
    server's; TTFT and E2E latency are unaffected."""
    tokens = sum(r.output_tokens for r in records if r.error is None)
    bunched = sum(r.output_tokens - len(r.content_times) + 1 for r in records
                  if r.error is None and r.content_times and r.output_tokens > len(r.content_times))
    return round(bunched / tokens, 4) if tokens else None
