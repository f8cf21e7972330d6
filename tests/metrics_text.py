"""`/metrics` texts in the shape vLLM 0.32 writes them (names and labels as its Prometheus logger has
them), for the fakes; the real-vLLM tier reads a real server's."""

from __future__ import annotations


def exposition(requests: int, tokens: int, ttft_buckets: list[tuple[str, int]], ttft_sum: float) -> str:
    """A `/metrics` text in the shape vLLM writes it, for the served model `tiny` (and another, `other`)."""
    tiny = 'engine="0",model_name="tiny"'
    lines = ["# HELP vllm:request_success_total Count of successfully processed requests.",
             "# TYPE vllm:request_success_total counter",
             f'vllm:request_success_total{{{tiny},finished_reason="stop"}} {requests - 1}.0',
             f'vllm:request_success_total{{{tiny},finished_reason="length"}} 1.0',
             'vllm:request_success_total{engine="0",finished_reason="stop",model_name="other"} 7.0',
             "# TYPE vllm:generation_tokens_total counter",
             f'vllm:generation_tokens_total{{engine="0",model_name="tiny"}} {tokens}.0',
             "# TYPE vllm:num_requests_running gauge",
             'vllm:num_requests_running{engine="0",model_name="tiny"} 2.0',
             "# TYPE vllm:time_to_first_token_seconds histogram"]
    lines += [f'vllm:time_to_first_token_seconds_bucket{{engine="0",le="{le}",model_name="tiny"}} {n}.0'
              for le, n in ttft_buckets]
    lines += [f"vllm:time_to_first_token_seconds_count{{{tiny}}} {ttft_buckets[-1][1]}.0",
              f"vllm:time_to_first_token_seconds_sum{{{tiny}}} {ttft_sum}",
              "# TYPE python_gc_objects_collected_total counter",
              'python_gc_objects_collected_total{generation="0"} 123.0']
    return "\n".join(lines) + "\n"
