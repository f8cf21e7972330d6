"""`bench`: N concurrent streaming chat completions for a while, then the figures that matter.

Time to first token (TTFT) is from sending the request to the first content token. A request's
output rate is its tokens after the first over the time after the first (the decode speed a
reader sees); the total rate is every output token over the wall time of the run.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from endpoint.auth import Refused, refusal
from endpoint.check import chat_payload
from endpoint.openai_http import Clock, StreamRecord, Target, stream_chat
from endpoint.outputs import Endpoint

PROGRESS_EVERY_SECONDS = 0.5
BAR_WIDTH = 24


@dataclass(frozen=True)
class BenchPlan:
    concurrency: int
    duration: float
    prompt: str
    max_tokens: int
    # After a failed request a worker waits this long, so errors do not become a tight loop.
    error_pause: float = 1.0


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks, like numpy's default."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(records: Sequence[StreamRecord], plan: BenchPlan, wall_seconds: float) -> dict[str, Any]:
    # Every request is counted once: it succeeded (a whole stream, even one with no content), or it
    # failed with its reason.
    ok = [r for r in records if r.error is None]
    ttft = [r.first_token - r.started for r in ok if r.first_token is not None]
    rates = [(r.output_tokens - 1) / (r.finished - r.first_token)
             for r in ok if r.first_token is not None and r.output_tokens > 1 and r.finished > r.first_token]
    tokens = sum(r.output_tokens for r in ok)
    errors = Counter(r.error for r in records if r.error is not None)
    return {
        "concurrency": plan.concurrency,
        "durationSeconds": round(wall_seconds, 3),
        "requests": len(records),
        "succeeded": len(ok),
        "errors": dict(errors),
        "ttftSeconds": {"p50": _round(percentile(ttft, 0.5)), "p95": _round(percentile(ttft, 0.95))},
        "outputTokensPerSecondPerRequest": {"p50": _round(percentile(rates, 0.5)),
                                            "p95": _round(percentile(rates, 0.95))},
        "outputTokens": tokens,
        "outputTokensPerSecondTotal": _round(tokens / wall_seconds if wall_seconds > 0 else None),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def report(summary: dict[str, Any]) -> str:
    errors = summary["errors"]
    failed = sum(errors.values())
    error_text = (f" ({failed} failed: " + "; ".join(f"{kind} x{n}" for kind, n in errors.items()) + ")"
                  if errors else "")
    ttft, rate = summary["ttftSeconds"], summary["outputTokensPerSecondPerRequest"]
    return "\n".join([
        f"requests          {summary['requests']} at concurrency {summary['concurrency']}{error_text}",
        f"TTFT              p50 {_num(ttft['p50'], 's')}  p95 {_num(ttft['p95'], 's')}",
        f"tokens/s/request  p50 {_num(rate['p50'])}  p95 {_num(rate['p95'])}",
        f"tokens/s total    {_num(summary['outputTokensPerSecondTotal'])} ({summary['outputTokens']} "
        f"output tokens in {summary['durationSeconds']:.1f} s)",
    ])


def _num(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:.3f}{' ' + unit if unit else ''}"


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
    payload = chat_payload(endpoint.model, plan.prompt, plan.max_tokens)

    def worker() -> None:
        while not stop.is_set() and clock() < deadline:
            record = stream_chat(target, payload, clock)
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
