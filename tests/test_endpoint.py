"""The `check` and `bench` commands against an OpenAI-compatible fake on a virtual clock."""

from __future__ import annotations

import http.client
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from endpoint.__main__ import main
from endpoint.bench import BenchPlan, percentile, summarize
from endpoint.openai_http import StreamRecord, Target, request, stream_chat
from endpoint.outputs import OutputsError, find_endpoint
from tests.fake_openai import ALIAS, FOLDER, GOOD_TOKEN, MODEL, NO_ROLE_TOKEN, FakeOpenAI, fake_openai

PROJECT_ID = "bt1project0000000000"


def env_for(fake: FakeOpenAI, token: str = GOOD_TOKEN) -> dict[str, str]:
    return {"VLLM_ENDPOINT_URL": fake.url, "VLLM_NODE_ALIAS": ALIAS, "VLLM_FOLDER_ID": FOLDER,
            "VLLM_MODEL": MODEL, "VLLM_PROJECT_ID": PROJECT_ID, "YC_IAM_TOKEN": token}


def run(fake: FakeOpenAI, *argv: str, token: str = GOOD_TOKEN) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), env=env_for(fake, token), clock=fake.clock, sleep=fake.clock.advance,
                out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_check_waits_through_503s_then_times_one_completion() -> None:
    with fake_openai(warmup_answers=3, ttft=0.25, inter_token=0.05) as fake:
        code, out, err = run(fake, "check", "--interval", "5", "--max-tokens", "8")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"waiting for {MODEL}: 0:00 elapsed, last answer: HTTP 503 model is loading",
        f"waiting for {MODEL}: 0:05 elapsed, last answer: HTTP 503 model is loading",
        f"waiting for {MODEL}: 0:10 elapsed, last answer: HTTP 503 model is loading",
        f"serving after 0:15; models: {MODEL}",
        "chat completion in 0.60 s (8 tokens): word word word word word word word word",
    ]
    sent = fake.requests[-1]
    assert sent["headers"]["authorization"] == f"Bearer {GOOD_TOKEN}"
    assert (sent["headers"]["x-node-alias"], sent["headers"]["x-folder-id"]) == (ALIAS, FOLDER)
    assert sent["body"]["max_tokens"] == 8


def test_check_gives_up_after_the_wait_with_the_last_answer() -> None:
    with fake_openai(warmup_answers=1000) as fake:
        code, out, err = run(fake, "check", "--wait-minutes", "1", "--interval", "20")
    assert code == 1
    last_line = f"waiting for {MODEL}: 1:00 elapsed, last answer: HTTP 503 model is loading"
    assert out.splitlines()[-1] == last_line
    assert err == (f"error: {MODEL} is not served after 1:00; the last answer was HTTP 503 model is "
                   "loading. A node can take tens of minutes to pull the image and load the weights: "
                   "wait longer with --wait-minutes, or see the node's logs in the DataSphere console\n")


def test_a_refused_connection_is_waited_out_too() -> None:
    with fake_openai() as fake:
        url = fake.url
    env = env_for(fake) | {"VLLM_ENDPOINT_URL": url}
    out, err = io.StringIO(), io.StringIO()
    code = main(["check", "--wait-minutes", "0.1", "--interval", "3"], env=env, clock=fake.clock,
                sleep=fake.clock.advance, out=out, err=err)
    assert code == 1
    assert "last answer: ConnectionRefusedError" in out.getvalue()


@pytest.mark.parametrize("command", ["check", "bench"])
def test_an_expired_token_is_exit_3_with_the_fix(command: str) -> None:
    with fake_openai() as fake:
        code, _, err = run(fake, command, "--duration", "5", token="t1.expired") if command == "bench" \
            else run(fake, command, token="t1.expired")
    assert code == 3
    assert err.startswith("error: the endpoint refused the token (HTTP 401): it is missing, malformed or "
                          "expired (IAM tokens live 12 hours). Fix: get a new one with `yc iam create-token`")


@pytest.mark.parametrize("command", ["check", "bench"])
def test_a_missing_role_is_named_with_the_project(command: str) -> None:
    with fake_openai() as fake:
        code, _, err = run(fake, command, token=NO_ROLE_TOKEN)
    assert code == 3
    assert (f"it needs the role datasphere.community-projects.developer on DataSphere project {PROJECT_ID}"
            in err)
    assert NO_ROLE_TOKEN not in err


def test_bench_figures_come_from_the_injected_timings() -> None:
    with fake_openai(ttft=0.25, inter_token=0.05, output_tokens=20, lockstep=True) as fake:
        code, out, err = run(fake, "bench", "--concurrency", "1", "--duration", "5.5", "--json")
    assert code == 0
    summary = json.loads(out)
    # Each request takes 0.25 + 19 x 0.05 = 1.2 s: five start within 5.5 s, the fifth ends at 6.0 s.
    assert summary == {
        "concurrency": 1, "durationSeconds": 6.0, "requests": 5, "succeeded": 5, "failed": 0, "errors": {},
        "ttftMs": {"mean": 250.0, "p50": 250.0, "p99": 250.0},
        "tpotMs": {"mean": 50.0, "p50": 50.0, "p99": 50.0},
        "itlMs": {"mean": 50.0, "p50": 50.0, "p99": 50.0},
        "e2eLatencyMs": {"mean": 1200.0, "p50": 1200.0, "p99": 1200.0},
        "requestsPerSecond": 0.833, "outputTokens": 100, "outputTokensPerSecond": 16.667,
        "burstShare": 0.0, "server": {"error": "/metrics answered HTTP 404"},
    }
    bars = err.splitlines()
    assert bars[-1] == "[########################]   5.5/5.5 s  5 requests  0 errors"
    assert all(request["body"]["stream_options"] == {"include_usage": True}
               for request in fake.requests if request["method"] == "POST")


def test_a_burst_delivered_stream_keeps_true_ttft_and_latency_and_shows_no_gaps() -> None:
    with fake_openai(ttft=0.25, inter_token=0.05, output_tokens=20, burst=True) as fake:
        code, out, _ = run(fake, "bench", "--concurrency", "1", "--duration", "2", "--json")
    summary = json.loads(out)
    assert code == 0
    # The whole stream arrives at 0.25 + 19 x 0.05 = 1.2 s: that is its first token and its end.
    assert summary["ttftMs"]["p50"] == summary["e2eLatencyMs"]["p50"] == 1200.0
    assert summary["itlMs"]["p99"] == summary["tpotMs"]["p99"] == 0.0


def test_bench_runs_its_requests_at_once_and_counts_errors() -> None:
    with fake_openai(gather=3, fail_every=4, output_tokens=5) as fake:
        code, out, _ = run(fake, "bench", "--concurrency", "3", "--duration", "10")
    assert code == 0
    assert fake.max_in_flight == 3
    failures = fake.chats // 4
    assert failures >= 1
    lines = out.splitlines()
    assert lines[0] == (f"requests          {fake.chats} at concurrency 3: {fake.chats - failures} "
                        f"succeeded, {failures} failed")
    assert lines[-1] == f"errors            HTTP 500 injected failure x{failures}"


def test_bench_with_every_request_failing_exits_1() -> None:
    with fake_openai(fail_every=1) as fake:
        code, out, _ = run(fake, "bench", "--concurrency", "2", "--duration", "3")
    assert code == 1
    assert "TTFT (ms)                  -         -         -" in out


def test_a_stream_without_usage_counts_chunks_and_a_cut_stream_is_an_error() -> None:
    with fake_openai(report_usage=False, output_tokens=7) as fake:
        target = Target(fake.url, {"Authorization": f"Bearer {GOOD_TOKEN}", "x-node-alias": ALIAS,
                                   "x-folder-id": FOLDER})
        whole = stream_chat(target, {"model": MODEL, "messages": []}, fake.clock)
        fake.cut_after_tokens = 3
        cut = stream_chat(target, {"model": MODEL, "messages": []}, fake.clock)
    assert (whole.error, whole.output_tokens, whole.status) == (None, 7, 200)
    assert (cut.error, cut.output_tokens) == ("the stream ended before [DONE]", 3)


@pytest.mark.parametrize("stream", [{"empty_content": True}, {"send_done": False},
                                    {"send_done": False, "report_usage": False}])
def test_every_request_is_counted_once_even_without_content_or_done(stream: dict[str, bool]) -> None:
    with fake_openai(**stream) as fake:
        code, out, _ = run(fake, "bench", "--concurrency", "2", "--duration", "3", "--json")
    figures = json.loads(out)
    assert code == 0
    assert figures["requests"] > 0
    assert figures["succeeded"] == figures["requests"]
    assert figures["errors"] == {}


def record(started: float, ttft: float, tokens: int, gap: float, error: str | None = None) -> StreamRecord:
    """A request whose `tokens` arrive one a chunk, the first after `ttft`, then every `gap` seconds."""
    times = tuple(started + ttft + gap * i for i in range(tokens))
    return StreamRecord(started, times, times[-1], tokens, 200, error)


def test_summary_follows_vllms_definitions() -> None:
    records = [record(0, 0.1, 11, 0.1), record(0, 0.2, 11, 0.05), record(1, 0.3, 21, 0.025),
               record(2, 0.4, 2, 0.5), StreamRecord(3, (), 3.5, 0, 503, "HTTP 503 model is loading")]
    summary = summarize(records, BenchPlan(4, 10, "p", 64), wall_seconds=9.0)
    assert (summary["requests"], summary["succeeded"], summary["failed"]) == (5, 4, 1)
    assert summary["errors"] == {"HTTP 503 model is loading": 1}
    assert summary["ttftMs"] == {"mean": 250.0, "p50": 250.0, "p99": 397.0}
    # TPOT: (E2E - TTFT) / (tokens - 1) = 100, 50, 25 and 500 ms.
    assert summary["tpotMs"] == {"mean": 168.75, "p50": 75.0, "p99": 488.0}
    # ITL: every gap between chunks: 10 x 100, 10 x 50, 20 x 25 and 1 x 500 ms.
    assert summary["itlMs"]["mean"] == round((1000 + 500 + 500 + 500) / 41, 3)
    # E2E: to the last chunk: 1100, 700, 800 and 900 ms.
    assert summary["e2eLatencyMs"] == {"mean": 875.0, "p50": 850.0, "p99": 1094.0}
    assert (summary["requestsPerSecond"], summary["outputTokens"], summary["outputTokensPerSecond"]) == (
        0.444, 45, 5.0)
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.95) == 3.0


def test_a_burst_leaves_ttft_and_latency_true_and_shows_in_itl() -> None:
    """A buffering proxy hands over a whole stream at once: the gaps vanish, the latency does not."""
    steady, burst = record(0, 0.2, 11, 0.1), StreamRecord(0, (1.2,) * 11, 1.2, 11, 200)
    summary = summarize([burst], BenchPlan(1, 10, "p", 64), wall_seconds=2.0)
    assert summary["e2eLatencyMs"]["mean"] == summarize([steady], BenchPlan(1, 10, "p", 64), 2.0)[
        "e2eLatencyMs"]["mean"] == 1200.0
    assert summary["itlMs"]["p99"] == 0.0
    assert summary["ttftMs"]["mean"] == 1200.0


def test_outputs_come_from_a_saved_file_or_pulumi(tmp_path: Path) -> None:
    saved = {"endpointUrl": "https://node-api.example/v1/", "servedModelName": MODEL, "projectId": PROJECT_ID,
             "headers": {"x-node-alias": ALIAS, "x-folder-id": FOLDER}, "clientKeyJson": "[secret]"}
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(saved))
    endpoint = find_endpoint(path, None, {}, tmp_path)
    assert (endpoint.url, endpoint.model, endpoint.project_id) == ("https://node-api.example/v1", MODEL,
                                                                   PROJECT_ID)

    calls: list[list[str]] = []

    def pulumi(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        return subprocess.CompletedProcess(command, 0, json.dumps(saved), "")

    assert find_endpoint(None, "prod", {}, tmp_path, run=pulumi) == endpoint
    assert calls == [["pulumi", "stack", "output", "--json", "--stack", "prod"]]

    def missing(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(command[0])

    with pytest.raises(OutputsError, match=r"the Pulumi CLI is not installed: set VLLM_ENDPOINT_URL"):
        find_endpoint(None, None, {}, tmp_path, run=missing)
    with pytest.raises(OutputsError, match=r"VLLM_ENDPOINT_URL is set, so VLLM_NODE_ALIAS, VLLM_FOLDER_ID"):
        find_endpoint(None, None, {"VLLM_ENDPOINT_URL": "https://x/v1"}, tmp_path)
    with pytest.raises(OutputsError, match=r"the stack outputs lack headers, servedModelName: run `pulumi"):
        find_endpoint(None, None, {}, tmp_path, run=lambda c, **_: subprocess.CompletedProcess(
            c, 0, json.dumps({"endpointUrl": "https://x/v1"}), ""))


def test_check_fails_at_once_when_the_model_is_not_among_those_served() -> None:
    with fake_openai(models=("Qwen/Qwen2.5-0.5B-Instruct", "tiny")) as fake:
        code, out, err = run(fake, "check")
    assert code == 1
    assert out == ""
    assert err == (f"error: {fake.url}/models answers, but without {MODEL}: it serves "
                   "Qwen/Qwen2.5-0.5B-Instruct, tiny. Fix: send one of those names as the model (VLLM_MODEL, "
                   "or the stack's servedModelName)\n")
    assert len(fake.requests) == 1


def test_check_says_the_base_url_must_end_in_v1() -> None:
    with fake_openai() as fake:
        env = env_for(fake) | {"VLLM_ENDPOINT_URL": fake.url.removesuffix("/v1")}
        out, err = io.StringIO(), io.StringIO()
        code = main(["check"], env=env, clock=fake.clock, sleep=fake.clock.advance, out=out, err=err)
    assert code == 1
    assert err.getvalue().endswith("/models is not found (HTTP 404): the base URL must end in /v1, as the "
                                   "stack output endpointUrl does\n")


def test_check_waits_only_through_answers_a_loading_node_gives() -> None:
    with fake_openai() as fake:
        env = env_for(fake) | {"VLLM_NODE_ALIAS": "datasphere.user.other"}
        out, err = io.StringIO(), io.StringIO()
        started = fake.clock()
        code = main(["check"], env=env, clock=fake.clock, sleep=fake.clock.advance, out=out, err=err)
        waited = fake.clock() - started
    assert code == 1
    assert "answers HTTP 404 alias not found in this folder, which no loading node answers" in err.getvalue()
    assert waited == 0


def test_a_silent_stream_fails_as_stalled() -> None:
    with fake_openai(stall_after_tokens=2) as fake:
        target = Target(fake.url, {"Authorization": f"Bearer {GOOD_TOKEN}", "x-node-alias": ALIAS,
                                   "x-folder-id": FOLDER}, stall_seconds=0.05)
        stalled = stream_chat(target, {"model": MODEL, "messages": []}, fake.clock)
    assert (stalled.error, stalled.output_tokens) == ("stalled: no byte for 0.05 s", 2)


@pytest.mark.parametrize(("argv", "message"), [
    (["bench", "--concurrency", "0"], "argument --concurrency: 0 is not at least 1"),
    (["bench", "--duration", "-5"], "argument --duration: -5 is not above 0"),
    (["check", "--max-tokens", "0"], "argument --max-tokens: 0 is not at least 1"),
    (["check", "--interval", "x"], "argument --interval: invalid float value: 'x'"),
])
def test_arguments_are_checked(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv, env={})
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_help_shows_the_defaults() -> None:
    bench_help = subprocess.run([sys.executable, "-m", "endpoint", "bench", "--help"], capture_output=True,
                                text=True, check=True).stdout
    for default in ("requests in flight at once (default: 4)", "seconds to keep sending (default: 30.0)",
                    "output tokens per request (default: 128)", "(default: 30.0)"):
        assert default in " ".join(bench_help.split())
    for figure in ("TTFT, time to first token:", "TPOT, time per output token:", "ITL, inter-token latency:",
                   "E2E latency:", "A proxy that buffers the stream"):
        assert figure in bench_help


@pytest.mark.parametrize("command", ["check", "bench", "doctor"])
def test_help_says_what_each_command_does_and_its_exit_codes(command: str) -> None:
    done = subprocess.run([sys.executable, "-m", "endpoint", command, "--help"], capture_output=True,
                          text=True, check=True)
    shown = " ".join(done.stdout.split())
    assert "Exit codes: 0 " in shown
    assert {"check": "then time one chat completion", "bench": "TTFT, time to first token",
            "doctor": "does this account answer as the stack assumes"}[command] in shown


RECORDED = Path(__file__).parent / "fixtures" / "vllm-0.32.0"


def events_of(text: str) -> list[dict[str, Any]]:
    return [json.loads(line.removeprefix("data: ")) for line in text.splitlines()
            if line.startswith("data: {")]


def target_of(fake: FakeOpenAI) -> Target:
    return Target(fake.url, {"Authorization": f"Bearer {GOOD_TOKEN}", "x-node-alias": ALIAS,
                             "x-folder-id": FOLDER})


def fake_stream_text() -> str:
    with fake_openai() as fake:
        connection = http.client.HTTPConnection(urlsplit(fake.url).netloc)
        body = {"model": MODEL, "messages": [], "max_tokens": 4, "stream": True,
                "stream_options": {"include_usage": True}}
        connection.request("POST", "/v1/chat/completions", json.dumps(body), dict(target_of(fake).headers))
        return connection.getresponse().read().decode()


def test_the_fake_frames_a_stream_as_the_recorded_vllm_does() -> None:
    real = events_of((RECORDED / "stream-4-tokens.sse").read_text())
    fake = events_of(fake_stream_text())
    for events in (real, fake):
        assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        contents = [e for e in events if e["choices"]]
        assert contents[-1]["choices"][0]["finish_reason"] == "length", "rides on the last content chunk"
        assert all(e["choices"][0]["finish_reason"] is None for e in contents[:-1])
        assert events[-1]["choices"] == []
        assert set(events[-1]["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}

    def choice_keys(events: list[dict[str, Any]]) -> set[str]:
        return {key for e in events for choice in e["choices"] for key in choice}

    assert choice_keys(fake) <= choice_keys(real)


def test_the_fakes_error_body_is_vllms() -> None:
    recorded = json.loads((RECORDED / "unknown-model.json").read_text())
    with fake_openai() as fake:
        answer = request(target_of(fake), "POST", "/chat/completions", {"model": "no-such-model"})
    assert answer.status == recorded["status"] == 404
    assert set(answer.body["error"]) == set(recorded["body"]["error"])
    assert answer.body["error"]["message"].startswith("The model `no-such-model` does not exist.")


@pytest.mark.parametrize(("name", "tokens", "content_chunks"), [("stream-4-tokens.sse", 4, 2),
                                                                 ("stream-1-token.sse", 1, 0)])
def test_recorded_vllm_streams_are_read_whole(name: str, tokens: int, content_chunks: int) -> None:
    """Real vLLM: tokens that decode to nothing yet come as empty chunks; a stream may hold no content."""
    with fake_openai(transcript=(RECORDED / name).read_text()) as fake:
        read = stream_chat(target_of(fake), {"model": MODEL, "messages": []}, fake.clock)
    assert (read.error, read.output_tokens, len(read.content_times)) == (None, tokens, content_chunks)


def several_models(fake: FakeOpenAI, tmp_path: Path) -> Path:
    """A saved `pulumi stack output --json` of a stack serving two models."""
    other = {"servedModelName": "other-model", "headers": {"x-node-alias": "datasphere.user.other",
                                                          "x-folder-id": FOLDER}}
    saved = {"endpointUrl": fake.url, "projectId": PROJECT_ID, "models": {
        "other": other,
        "chat": {"servedModelName": MODEL, "headers": {"x-node-alias": ALIAS, "x-folder-id": FOLDER}}}}
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(saved))
    return path


def test_model_picks_one_of_several_models_of_the_stack(tmp_path: Path) -> None:
    with fake_openai(ttft=0.1) as fake:
        path = several_models(fake, tmp_path)
        out, err = io.StringIO(), io.StringIO()
        code = main(["check", "--outputs", str(path), "--model", "chat", "--max-tokens", "2"],
                    env={"YC_IAM_TOKEN": GOOD_TOKEN}, clock=fake.clock, sleep=fake.clock.advance,
                    out=out, err=err)
        assert (code, err.getvalue()) == (0, "")
        sent = fake.requests[-1]
    assert sent["headers"]["x-node-alias"] == ALIAS
    assert sent["body"]["model"] == MODEL
    assert out.getvalue().splitlines()[0] == f"serving after 0:00; models: {MODEL}"
    assert find_endpoint(path, None, {"VLLM_STACK_MODEL": "other"}, tmp_path).model == "other-model"


def test_several_models_without_model_or_with_an_unknown_one_say_which_there_are(tmp_path: Path) -> None:
    with fake_openai() as fake:
        path = several_models(fake, tmp_path)
        for extra, message in (
                ([], "error: the stack serves 2 models (other, chat): pick one with --model NAME (or "
                     "VLLM_STACK_MODEL)\n"),
                (["--model", "chatt"], "error: the stack serves no model named 'chatt': its models are "
                                       "other, chat\n")):
            err = io.StringIO()
            code = main(["check", "--outputs", str(path), *extra], env={"YC_IAM_TOKEN": GOOD_TOKEN},
                        clock=fake.clock, sleep=fake.clock.advance, out=io.StringIO(), err=err)
            assert (code, err.getvalue()) == (2, message)
        assert fake.requests == []


@pytest.mark.parametrize(("stdout", "said"), [
    ("warning: no stack selected\n", "gave no JSON ('warning: no stack selected')"),
    ("", "gave no JSON ('nothing')"),
    ("[1, 2]", "gave list, not the stack's outputs"),
])
def test_outputs_that_are_not_json_are_one_line_not_a_traceback(tmp_path: Path, stdout: str,
                                                                 said: str) -> None:
    def pulumi(*_: object, **__: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess([], 0, stdout, "")

    with pytest.raises(OutputsError, match=re.escape(said)):
        find_endpoint(None, None, {}, tmp_path, run=pulumi)
    saved = tmp_path / "outputs.json"
    saved.write_text(stdout)
    with pytest.raises(OutputsError, match=re.escape(said)):
        find_endpoint(saved, None, {}, tmp_path)
    with pytest.raises(OutputsError, match=r"cannot read .*absent.json: No such file or directory"):
        find_endpoint(tmp_path / "absent.json", None, {}, tmp_path)


def test_the_tools_read_the_stack_up_sh_made_in_a_new_shell(tmp_path: Path) -> None:
    """No PULUMI_BACKEND_URL exported, and up.sh's local backend here: the Pulumi CLI is pointed at it."""
    seen: list[dict[str, str]] = []

    def pulumi(*_: object, env: dict[str, str], **__: object) -> subprocess.CompletedProcess[str]:
        seen.append(env)
        return subprocess.CompletedProcess([], 0, json.dumps({
            "endpointUrl": "https://node-api.example/v1", "servedModelName": "m",
            "headers": {"x-node-alias": "datasphere.user.a", "x-folder-id": "b1g"}}), "")

    find_endpoint(None, None, {"HOME": "/root"}, tmp_path, run=pulumi)
    assert "PULUMI_BACKEND_URL" not in seen[-1], "no local backend here: the user's own login"
    (tmp_path / ".pulumi-state").mkdir()
    find_endpoint(None, None, {"HOME": "/root"}, tmp_path, run=pulumi)
    assert seen[-1]["PULUMI_BACKEND_URL"] == f"file://{tmp_path}/.pulumi-state"
    find_endpoint(None, None, {"PULUMI_BACKEND_URL": "s3://team"}, tmp_path, run=pulumi)
    assert seen[-1]["PULUMI_BACKEND_URL"] == "s3://team", "a backend the user set wins"
