"""`bench --sweep`: the SLO rule, the stopping rule and the cost arithmetic on made-up levels, and whole
sweeps against the fake server on its virtual clock. The real-vLLM tier runs one against real vLLM."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from endpoint.__main__ import main
from endpoint.sweep import Slo, default_levels, judge, prompt_for, rub_per_million_tokens, run_sweep
from tests.fake_openai import FakeOpenAI, fake_openai
from tests.test_endpoint import env_for

SLO = Slo(ttft_ms=500, tpot_ms=50)


def level(concurrency: int, ttft_p99: float, tpot_p99: float, tokens_per_second: float, failed: int = 0,
          server_tpot_p99: float | None = None) -> dict[str, Any]:
    figures = {"mean": None, "p50": None}
    server: dict[str, Any] = {"error": "/metrics answered HTTP 404"}
    if server_tpot_p99 is not None:
        server = {"tpotMs": {**figures, "p99": server_tpot_p99}, "outputTokens": 1,
                  "outputTokensPerSecond": tokens_per_second}
    return {"concurrency": concurrency, "requests": 10 + failed, "succeeded": 10, "failed": failed,
            "ttftMs": {**figures, "p99": ttft_p99}, "tpotMs": {**figures, "p99": tpot_p99},
            "e2eLatencyMs": {**figures, "p99": 1.0}, "requestsPerSecond": 1.0,
            "outputTokensPerSecond": tokens_per_second, "server": server}


def test_a_level_is_within_the_slo_only_with_both_p99s_under_and_no_failure() -> None:
    assert judge(level(1, 400, 40, 100), SLO) is None
    assert judge(level(1, 600, 40, 100), SLO) == "p99 TTFT 600.0 ms above 500"
    assert judge(level(1, 400, 60, 100), SLO) == "p99 TPOT 60.0 ms above 50"
    assert judge(level(1, 400, 40, 100, failed=1), SLO) == "1 of 11 requests failed"
    # The server's TPOT is the one judged where it was read: a bunched stream's client TPOT is near 0.
    assert judge(level(1, 400, 0.1, 100, server_tpot_p99=70), SLO) == "p99 TPOT 70.0 ms above 50"


def test_the_sweep_stops_at_the_first_level_out_and_the_capacity_is_the_last_within() -> None:
    planned = {1: level(1, 100, 10, 200), 2: level(2, 150, 20, 380), 4: level(4, 300, 45, 700),
               8: level(8, 900, 80, 900), 16: level(16, 2000, 150, 950)}
    ran: list[int] = []

    def run_level(concurrency: int) -> dict[str, Any]:
        ran.append(concurrency)
        return dict(planned[concurrency])

    sweep = run_sweep([1, 2, 4, 8, 16], run_level, SLO, rub_per_hour=550.23)
    assert ran == [1, 2, 4, 8], "nothing runs past the first level out of the SLO"
    assert sweep["capacity"] == 4
    assert sweep["stopped"] == "at concurrency 8: p99 TTFT 900.0 ms above 500"
    assert sweep["capacityOutputTokensPerSecond"] == 700
    # 550.23 RUB an hour over 700 x 3600 tokens an hour, per million.
    assert sweep["rubPerMillionOutputTokens"] == 218.35


def test_cost_per_million_tokens() -> None:
    assert rub_per_million_tokens(550.23, 1000.0) == 152.84
    assert rub_per_million_tokens(None, 1000.0) is None
    assert rub_per_million_tokens(550.23, 0.0) is None
    assert default_levels(64) == [1, 2, 4, 8, 16, 32, 64]
    assert default_levels(12) == [1, 2, 4, 8, 12]


def test_prompts_are_reproducible_and_differ_between_requests() -> None:
    assert prompt_for(7, 3, 64) == prompt_for(7, 3, 64)
    assert prompt_for(7, 3, 64) != prompt_for(7, 4, 64) != prompt_for(8, 3, 64)
    assert len(prompt_for(7, 3, 64).split()) == 3 + 64


def sweep(fake: FakeOpenAI, tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["bench", "--sweep", "--duration", "3", "--output-tokens", "10", "--input-tokens", "32",
                 "--plot", str(tmp_path / "sweep.svg"), *argv], env=env_for(fake), clock=fake.clock,
                sleep=fake.clock.advance, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_a_sweep_against_the_fake_reports_capacity_cost_json_and_a_picture(tmp_path: Path) -> None:
    with fake_openai(ttft=0.1, inter_token=0.02, output_tokens=10, lockstep=True) as fake:
        code, out, err = sweep(fake, tmp_path, "--levels", "1", "--rub-per-hour", "550.23", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["capacity"] == 1
    assert result["ignoreEos"] is True
    [one] = result["levels"]
    assert one["outputTokens"] == 10 * one["succeeded"]
    assert result["rubPerMillionOutputTokens"] == rub_per_million_tokens(550.23, one["outputTokensPerSecond"])
    chats = [r["body"] for r in fake.requests if r["method"] == "POST"]
    assert all(body["ignore_eos"] is True and body["max_tokens"] == 10 for body in chats[1:])
    prompts = [body["messages"][0]["content"] for body in chats[1:]]
    assert prompts == [prompt_for(0, n, 32) for n in range(len(prompts))], "request n gets prompt n"
    svg = ET.fromstring((tmp_path / "sweep.svg").read_text())
    assert svg.tag.endswith("svg")
    assert [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")][-1] == "1"


def test_a_sweep_out_of_slo_from_the_start_has_no_capacity_and_exits_1(tmp_path: Path) -> None:
    with fake_openai(ttft=0.1, inter_token=0.02, output_tokens=10, lockstep=True) as fake:
        code, out, _ = sweep(fake, tmp_path, "--levels", "1,2", "--slo-tpot-ms", "5")
    assert code == 1
    assert "capacity: none: even the first level is out of the SLO" in out
    assert "stopped at concurrency 1: p99 TPOT 20.0 ms above 5" in out
    assert "cost: unknown (no price: the stack's cost output, or --rub-per-hour)" in out


def test_a_server_that_refuses_ignore_eos_is_swept_without_it(tmp_path: Path) -> None:
    with fake_openai(ttft=0.1, inter_token=0.02, output_tokens=10, lockstep=True,
                     refused_fields=("ignore_eos",)) as fake:
        code, out, err = sweep(fake, tmp_path, "--levels", "1", "--json")
    assert code == 0
    assert "the server refused ignore_eos" in err
    assert json.loads(out)["ignoreEos"] is False


@pytest.mark.parametrize("levels", ["0,1", "2,1", "a", "1,1"])
def test_bad_levels_are_refused_by_the_parser(levels: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--sweep", "--levels", levels], env={})
    assert exit_.value.code == 2
    assert "is not rising whole numbers from 1" in capsys.readouterr().err
