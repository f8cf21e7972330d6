"""`bench --sweep`: how much load one node holds within a latency target, and what a million tokens cost.

Concurrency levels (1, 2, 4, ... up to --max-concurrency, or --levels) each run for --duration seconds
with reproducible requests: a prompt of about --input-tokens words drawn from a fixed list by --seed and
the request's number, and exactly --output-tokens tokens out (`max_tokens` with vLLM's `ignore_eos`,
where the server takes it), as `vllm bench serve`'s random dataset does. Each level is measured by the
client and by the server's own `/metrics`. The sweep stops at the first level with a failed request or
beyond the SLO. The **capacity** is the highest level whose p99 TTFT and p99 TPOT are within
--slo-ttft-ms and --slo-tpot-ms (TTFT as the client saw it, which holds the network; TPOT as the server
timed it where `/metrics` was read, since a buffered stream makes the client's TPOT meaningless), and
the cost per million output tokens is the node's price an hour over the tokens it made an hour there.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from endpoint.bench import figure

# Ordinary English words, each one token or two for common tokenizers: prompts of a known length
# without the model's tokenizer. The server's count of prompt tokens is reported beside.
WORDS = ("time", "year", "people", "way", "day", "man", "thing", "woman", "life", "child", "world",
         "school", "state", "family", "student", "group", "country", "problem", "hand", "part", "place",
         "case", "week", "company", "system", "program", "question", "work", "government", "number",
         "night", "point", "home", "water", "room", "mother", "area", "money", "story", "fact", "month",
         "lot", "right", "study", "book", "eye", "job", "word", "business", "issue", "side", "kind",
         "head", "house", "service", "friend", "father", "power", "hour", "game", "line", "end", "member",
         "law", "car", "city", "community", "name", "president", "team", "minute", "idea", "kid", "body")


def prompt_for(seed: int, request: int, words: int) -> str:
    """The prompt of request number `request` of a sweep seeded with `seed`: the same on every run."""
    draw = random.Random(f"{seed}:{request}")  # noqa: S311 - reproducible text, not a secret
    return "Continue this list: " + " ".join(draw.choice(WORDS) for _ in range(words))


def default_levels(most: int) -> list[int]:
    """1, 2, 4, ... up to `most`, and `most` itself."""
    levels, level = [], 1
    while level < most:
        levels.append(level)
        level *= 2
    return [*levels, most]


@dataclass(frozen=True)
class Slo:
    ttft_ms: float
    tpot_ms: float


def tpot(level: dict[str, Any], quantile: str) -> float | None:
    """A level's TPOT at `quantile` ("p50", "p99"): the server's where read, else the client's."""
    server = level.get("server") or {}
    timed = (server.get("tpotMs") or {}).get(quantile) if "error" not in server else None
    return timed if timed is not None else level["tpotMs"][quantile]


def level_p99(level: dict[str, Any]) -> tuple[float | None, float | None]:
    """The p99 TTFT (the client's) and TPOT (the server's where read, else the client's) of a level."""
    return level["ttftMs"]["p99"], tpot(level, "p99")


def judge(level: dict[str, Any], slo: Slo) -> str | None:
    """Why a level is out (failed requests, or a p99 beyond the SLO), or None when it is within."""
    if level["failed"] or not level["succeeded"]:
        return f"{level['failed']} of {level['requests']} requests failed"
    ttft, tpot = level_p99(level)
    if ttft is None or ttft > slo.ttft_ms:
        return f"p99 TTFT {figure(ttft)} ms above {slo.ttft_ms:g}"
    if tpot is not None and tpot > slo.tpot_ms:
        return f"p99 TPOT {figure(tpot)} ms above {slo.tpot_ms:g}"
    return None


def rub_per_million_tokens(rub_per_hour: float | None, output_tokens_per_second: float | None
                           ) -> float | None:
    """What a million output tokens cost on a node that makes this many a second, busy all hour."""
    if not rub_per_hour or not output_tokens_per_second:
        return None
    return round(rub_per_hour / (output_tokens_per_second * 3600) * 1e6, 2)


def run_sweep(levels: Sequence[int], run_level: Callable[[int], dict[str, Any]], slo: Slo,
              rub_per_hour: float | None) -> dict[str, Any]:
    """Run the levels in order until one is out of the SLO or fails; the capacity and its cost."""
    results: list[dict[str, Any]] = []
    stopped = None
    for concurrency in levels:
        level = run_level(concurrency)
        level["outOfSlo"] = judge(level, slo)
        results.append(level)
        if level["outOfSlo"] is not None:
            stopped = f"at concurrency {concurrency}: {level['outOfSlo']}"
            break
    within = [level for level in results if level["outOfSlo"] is None]
    capacity = within[-1] if within else None
    tokens = None if capacity is None else _output_rate(capacity)
    return {"slo": {"ttftMsP99": slo.ttft_ms, "tpotMsP99": slo.tpot_ms}, "levels": results,
            "stopped": stopped, "capacity": None if capacity is None else capacity["concurrency"],
            "capacityOutputTokensPerSecond": tokens, "rubPerHour": rub_per_hour,
            "rubPerMillionOutputTokens": rub_per_million_tokens(rub_per_hour, tokens)}


def _output_rate(level: dict[str, Any]) -> float | None:
    """Output tokens a second: the server's count over the level where read, else the client's."""
    server = level.get("server") or {}
    return server.get("outputTokensPerSecond") if "error" not in server and server.get("outputTokens") \
        else level["outputTokensPerSecond"]


def sweep_report(sweep: dict[str, Any]) -> str:
    head = (f"{'conc':>5}{'req/s':>9}{'out tok/s':>11}{'TTFT p50':>10}{'p99':>9}{'TPOT p50':>10}{'p99':>9}"
            f"{'E2E p50':>10}{'p99':>9}  within SLO")
    slo = sweep["slo"]
    lines = [f"SLO: p99 TTFT <= {slo['ttftMsP99']:g} ms, p99 TPOT <= {slo['tpotMsP99']:g} ms "
             "(TPOT as the server timed it where /metrics was read)", head]
    for level in sweep["levels"]:
        lines.append(f"{level['concurrency']:>5}{figure(level['requestsPerSecond']):>9}"
                     f"{figure(_output_rate(level)):>11}{figure(level['ttftMs']['p50']):>10}"
                     f"{figure(level['ttftMs']['p99']):>9}{figure(tpot(level, 'p50')):>10}"
                     f"{figure(tpot(level, 'p99')):>9}"
                     f"{figure(level['e2eLatencyMs']['p50']):>10}{figure(level['e2eLatencyMs']['p99']):>9}  "
                     f"{'yes' if level['outOfSlo'] is None else 'no: ' + level['outOfSlo']}")
    if sweep["capacity"] is None:
        lines.append("capacity: none: even the first level is out of the SLO")
    else:
        rate = figure(sweep["capacityOutputTokensPerSecond"])
        lines.append(f"capacity: concurrency {sweep['capacity']}, {rate} output tokens/s within the SLO")
    cost = sweep["rubPerMillionOutputTokens"]
    lines.append(f"cost: {cost:,.2f} RUB per million output tokens at capacity ({sweep['rubPerHour']:,.2f} "
                 "RUB/h, busy all hour)" if cost is not None else
                 "cost: unknown (no price: the stack's cost output, or --rub-per-hour)")
    if sweep["stopped"]:
        lines.append(f"stopped {sweep['stopped']}")
    return "\n".join(lines)


def sweep_svg(sweep: dict[str, Any], width: int = 640, height: int = 400) -> str:
    """Throughput against p99 latency, a point per level labelled with its concurrency, the SLO as a
    line: a picture with no plotting library."""
    points = [(_output_rate(level) or 0.0, level_p99(level)[1] or 0.0, level["concurrency"],
               level["outOfSlo"] is None) for level in sweep["levels"]]
    left, bottom, top, right = 60, height - 50, 30, width - 20
    most_x = max([p[0] for p in points] + [1.0]) * 1.1
    most_y = max([p[1] for p in points] + [sweep["slo"]["tpotMsP99"]]) * 1.1

    def x(value: float) -> float:
        return left + (right - left) * value / most_x

    def y(value: float) -> float:
        return bottom - (bottom - top) * value / most_y

    slo = y(sweep["slo"]["tpotMsP99"])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             'font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="black"/>',
             f'<line x1="{left}" y1="{bottom}" x2="{left}" y2="{top}" stroke="black"/>',
             f'<text x="{(left + right) / 2}" y="{height - 15}" text-anchor="middle">output tokens/s '
             f'(0 to {most_x:.0f})</text>',
             f'<text x="15" y="{(top + bottom) / 2}" transform="rotate(-90 15 {(top + bottom) / 2})" '
             f'text-anchor="middle">p99 TPOT, ms (0 to {most_y:.0f})</text>',
             f'<line x1="{left}" y1="{slo:.1f}" x2="{right}" y2="{slo:.1f}" stroke="red" '
             'stroke-dasharray="4"/>',
             f'<text x="{right}" y="{slo - 4:.1f}" text-anchor="end" fill="red">SLO</text>']
    path = " ".join(f"{x(px):.1f},{y(py):.1f}" for px, py, _, _ in points)
    parts.append(f'<polyline points="{path}" fill="none" stroke="steelblue"/>')
    for px, py, concurrency, within in points:
        colour = "steelblue" if within else "red"
        parts.append(f'<circle cx="{x(px):.1f}" cy="{y(py):.1f}" r="4" fill="{colour}"/>')
        parts.append(f'<text x="{x(px) + 6:.1f}" y="{y(py) - 6:.1f}">{concurrency}</text>')
    return "\n".join([*parts, "</svg>"]) + "\n"
