"""`bench`: N concurrent streaming chat completions for a while, measured as vLLM's own benchmark
(`vllm bench serve`, vllm/benchmarks/serve.py) measures them.

- TTFT, time to first token: from sending a request to its first chunk with content.
- TPOT, time per output token: (E2E latency - TTFT) / (output tokens - 1), for requests of 2 or more tokens.
- ITL, inter-token latency: the gap between one chunk with content and the next.
- E2E latency: from sending a request to its last chunk with content.
- Throughput: completed requests, and output tokens, per second of the run.
Output tokens are the server's count (`usage.completion_tokens`) where it sends one, else one per chunk.
Each figure is given as mean, p50 and p99 in milliseconds. A request counts exactly once: succeeded (a
whole stream, even one with no content), or failed with its reason.

A proxy that buffers the stream (node-api may), or a busy server, delivers chunks in bursts: ITL and
TPOT then measure the delivery, not the server (near zero within a burst), while TTFT and E2E latency
stay true. So bench also reads vLLM's own `/metrics` right before and after the run and prints the
server's figures for the same requests beside its own, and says what share of tokens came bunched.
"""

from __future__ import annotations

import itertools
import statistics
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from endpoint.auth import Refused, refusal
from endpoint.check import chat_payload
from endpoint.metrics import MetricsError, burst_share, read_scrape, server_run
from endpoint.openai_http import Clock, StreamRecord, Target, stream_chat
from endpoint.outputs import Endpoint

PROGRESS_EVERY_SECONDS = 0.5
BAR_WIDTH = 24
LABEL = 18
FIGURES = (("ttftMs", "TTFT"), ("tpotMs", "TPOT"), ("itlMs", "ITL"), ("e2eLatencyMs", "E2E latency"))


@dataclass(frozen=True)
class BenchPlan:
    concurrency: int
    duration: float
    prompt: str
    max_tokens: int
    # After a failed request a worker waits this long, so errors do not become a tight loop.
    error_pause: float = 1.0
    # The prompt of request number n (a sweep's reproducible prompts); None: `prompt` every time.
    prompts: Callable[[int], str] | None = None
    # More fields of each request, e.g. vLLM's `ignore_eos`.
    extra: Mapping[str, Any] = field(default_factory=dict)

    def payload(self, model: str, number: int) -> dict[str, Any]:
        prompt = self.prompt if self.prompts is None else self.prompts(number)
        return {**chat_payload(model, prompt, self.max_tokens), **self.extra}


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks, like numpy's default."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def in_ms(seconds: Sequence[float]) -> dict[str, float | None]:
    values = [s * 1000 for s in seconds]
    mean = statistics.fmean(values) if values else None
    return {"mean": _round(mean), "p50": _round(percentile(values, 0.5)),
            "p99": _round(percentile(values, 0.99))}


def timings(record: StreamRecord) -> dict[str, Any]:
    """One succeeded request's TTFT, TPOT, ITLs and E2E latency, in seconds (None where it has none)."""
    times = record.content_times
    if not times:
        return {"ttft": None, "tpot": None, "itl": [], "e2e": record.finished - record.started}
    ttft, e2e = times[0] - record.started, times[-1] - record.started
    tpot = (e2e - ttft) / (record.output_tokens - 1) if record.output_tokens > 1 else None
    return {"ttft": ttft, "tpot": tpot, "itl": [b - a for a, b in itertools.pairwise(times)],
            "e2e": e2e}


def summarize(records: Sequence[StreamRecord], plan: BenchPlan, wall_seconds: float) -> dict[str, Any]:
    ok = [r for r in records if r.error is None]
    measured = [timings(r) for r in ok]
    tokens = sum(r.output_tokens for r in ok)
    return {
        "concurrency": plan.concurrency,
        "durationSeconds": round(wall_seconds, 3),
        "requests": len(records),
        "succeeded": len(ok),
        "failed": len(records) - len(ok),
        "errors": dict(Counter(r.error for r in records if r.error is not None)),
        "ttftMs": in_ms([m["ttft"] for m in measured if m["ttft"] is not None]),
        "tpotMs": in_ms([m["tpot"] for m in measured if m["tpot"] is not None]),
        "itlMs": in_ms([gap for m in measured for gap in m["itl"]]),
        "e2eLatencyMs": in_ms([m["e2e"] for m in measured]),
        "requestsPerSecond": _per_second(len(ok), wall_seconds),
        "outputTokens": tokens,
        "outputTokensPerSecond": _per_second(tokens, wall_seconds),
        "burstShare": burst_share(ok),
    }


def _per_second(count: int, seconds: float) -> float | None:
    return _round(count / seconds) if seconds > 0 else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def report(summary: dict[str, Any]) -> str:
    server = summary.get("server", {})
    side = "error" not in server and bool(server)
    header = f"{'mean':>10}{'p50':>10}{'p99':>10}"
    if side:
        header += f"{'server mean':>14}{'p50':>10}{'p99':>10}"
    lines = [f"{'requests':{LABEL}}{summary['requests']} at concurrency {summary['concurrency']}: "
             f"{summary['succeeded']} succeeded, {summary['failed']} failed", f"{'':{LABEL}}{header}"]
    for key, name in FIGURES:
        row = "".join(f"{figure(summary[key][q]):>10}" for q in ("mean", "p50", "p99"))
        if side:
            theirs = server[key]
            row += f"{figure(theirs['mean']):>14}" + "".join(f"{figure(theirs[q]):>10}"
                                                             for q in ("p50", "p99"))
        lines.append(f"{name + ' (ms)':{LABEL}}{row}")
    lines.append(f"{'throughput':{LABEL}}{figure(summary['requestsPerSecond'])} requests/s, "
                 f"{figure(summary['outputTokensPerSecond'])} output tokens/s "
                 f"({summary['outputTokens']} tokens in {summary['durationSeconds']:.1f} s)")
    if side:
        lines.append(f"{'server':{LABEL}}{server['requests']} requests, {server['outputTokens']} output "
                     f"tokens, {server['preemptions']} preemptions (vLLM's /metrics over the run)")
    elif server:
        lines.append(f"{'server':{LABEL}}not read: {server['error']}")
    share = summary.get("burstShare")
    if share:
        lines.append(f"{'bursts':{LABEL}}at least {share:.0%} of output tokens arrived in chunks of several: "
                     "the client's ITL and TPOT understate the server's (TTFT and E2E latency stay true)")
    if summary["errors"]:
        errors = "; ".join(f"{kind} x{n}" for kind, n in summary["errors"].items())
        lines.append(f"{'errors':{LABEL}}{errors}")
    return "\n".join(lines)


def figure(value: float | None) -> str:
    """A figure as the tools print it: one decimal, `-` where there is none."""
    return "-" if value is None else f"{value:.1f}"


class Progress:
    """A one-line bar on the terminal (a line per update elsewhere), at most twice a second."""

    def __init__(self, out: TextIO, clock: Clock, duration: float) -> None:
        self.out, self.clock, self.duration = out, clock, duration
        self.start = clock()
        self.shown_at: float | None = None
        self.lock = threading.Lock()

    def update(self, requests: int, errors: int, final: bool = False) -> None:
        with self.lock:
            now = self.clock()
            if not final and self.shown_at is not None and now - self.shown_at < PROGRESS_EVERY_SECONDS:
                return
            self.shown_at = now
            elapsed = min(now - self.start, self.duration)
            filled = int(BAR_WIDTH * elapsed / self.duration) if self.duration > 0 else BAR_WIDTH
            line = (f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {elapsed:5.1f}/{self.duration:g} s  "
                    f"{requests} requests  {errors} errors")
            if self.out.isatty():
                self.out.write(f"\r{line}\x1b[K" + ("\n" if final else ""))
            else:
                self.out.write(f"{line}\n")
            self.out.flush()


def run_bench(target: Target, endpoint: Endpoint, plan: BenchPlan, clock: Clock,
              sleep: Callable[[float], None], progress_out: TextIO) -> dict[str, Any]:
    """Run the plan; a 401 or 403 stops every worker and raises `Refused`."""
    records: list[StreamRecord] = []
    lock = threading.Lock()
    stop = threading.Event()
    refused: list[Refused] = []
    start = clock()
    deadline = start + plan.duration
    progress = Progress(progress_out, clock, plan.duration)
    numbers = itertools.count()

    def worker() -> None:
        while not stop.is_set() and clock() < deadline:
            with lock:
                number = next(numbers)
            record = stream_chat(target, plan.payload(endpoint.model, number), clock)
            error = refusal(record.status, endpoint.project_id)
            if error is not None:
                refused.append(error)
                stop.set()
                return
            with lock:
                records.append(record)
                counts = (len(records), sum(1 for r in records if r.error))
            progress.update(*counts)
            if record.error:
                sleep(plan.error_pause)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(plan.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if refused:
        raise refused[0]
    progress.update(len(records), sum(1 for r in records if r.error), final=True)
    wall = max((r.finished for r in records), default=clock()) - start
    return summarize(records, plan, wall)


def with_server_view(target: Target, endpoint: Endpoint, clock: Clock, run: Callable[[], dict[str, Any]]
                     ) -> dict[str, Any]:
    """`run`'s summary, and what vLLM's `/metrics` says of the same requests (or why it could not be read).
    Scraped right before and after: on a node that serves only this run, the counts match."""
    try:
        before = read_scrape(target, clock, endpoint.model)
    except MetricsError as error:
        return {**run(), "server": {"error": str(error)}}
    summary = run()
    try:
        server = server_run(before, read_scrape(target, clock, endpoint.model))
    except MetricsError as error:
        server = {"error": str(error)}
    return {**summary, "server": server}


def takes_ignore_eos(target: Target, endpoint: Endpoint, clock: Clock) -> bool:
    """Whether the server takes vLLM's `ignore_eos` (a fixed output length); one one-token request."""
    payload = {**chat_payload(endpoint.model, "Hi", 1), "ignore_eos": True}
    return stream_chat(target, payload, clock).status != 400
