"""`python -m endpoint status` against the fake cloud: a canary's two nodes told apart, each with its alias
share, its status and its server's figures over the interval; a server that cannot be read; the
variables' endpoint without the stack. The real-vLLM tier reads a real server (tests/test_real_vllm.py)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from endpoint import __main__ as cli
from tests.fake_datasphere import IAM_TOKEN, FakeDatasphere
from tests.metrics_text import exposition

FOLDER = "b1gfolder00000000000"
ALIAS = "datasphere.user.chat"


@pytest.fixture
def cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDatasphere]:
    """The fake with a canary (nodes `stable` 90% and `next` 10% behind one alias), and a project folder
    whose stack config points the tools at it."""
    fake = FakeDatasphere().start()
    try:
        for node_id in ("nodstable", "nodnext"):
            fake.nodes[node_id] = {"id": node_id, "name": f"vllm-dev-{node_id}", "folderId": FOLDER,
                                   "status": "HEALTHY", "ready_at": 0.0,
                                   "instances": [{"zoneId": "ru-central1-a", "status": "HEALTHY"}]}
        fake.aliases["alichat"] = {"id": "alichat", "name": "chat", "fullName": ALIAS, "nodes": [
            {"nodeId": "nodstable", "trafficPercent": 90}, {"nodeId": "nodnext", "trafficPercent": 10}]}
        fake.metrics["nodstable"] = [
            exposition(10, 500, [("0.1", 8), ("0.5", 10), ("+Inf", 10)], 0.9),
            exposition(30, 1500, [("0.1", 18), ("0.5", 30), ("+Inf", 30)], 4.9)]
        fake.metrics["nodnext"] = [exposition(2, 80, [("0.1", 2), ("0.5", 2), ("+Inf", 2)], 0.1)]
        (tmp_path / "Pulumi.yaml").write_text("name: vllm-datasphere\n")
        stack = f"config:\n  vllm-datasphere:datasphereEndpoint: {fake.url}\n"
        (tmp_path / "Pulumi.dev.yaml").write_text(stack)
        monkeypatch.setattr(cli, "PROJECT_DIR", tmp_path)
        yield fake
    finally:
        fake.stop()


def outputs_file(fake: FakeDatasphere, tmp_path: Path) -> Path:
    entry = {"servedModelName": "tiny", "aliasFullName": ALIAS, "aliasId": "alichat", "instanceSpec": "g2.1",
             "headers": {"x-node-alias": ALIAS, "x-folder-id": FOLDER}}
    outputs = {"endpointUrl": f"{fake.url}/v1", "projectId": "bt1project0000000000", "models": {
        "stable": {**entry, "nodeId": "nodstable", "aliasNodeIds": ["nodstable", "nodnext"]},
        "next": {**entry, "nodeId": "nodnext", "aliasNodeIds": ["nodstable", "nodnext"]}}}
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    return path


def status(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, list[float]]:
    out, slept = io.StringIO(), []
    code = cli.main(["status", *argv], env={"YC_IAM_TOKEN": IAM_TOKEN, **(env or {})}, out=out,
                    err=io.StringIO(), sleep=slept.append, clock=lambda: 100.0 + 10 * len(slept))
    return code, out.getvalue(), slept


def test_a_canarys_nodes_are_read_apart_with_their_share_and_their_servers_figures(
        cloud: FakeDatasphere, tmp_path: Path) -> None:
    code, out, slept = status("--outputs", str(outputs_file(cloud, tmp_path)), "--model", "stable",
                              "--interval", "10", "--json")
    assert code == 0, out
    assert slept == [10.0], "two readings an interval apart, and no real wait"
    [model] = json.loads(out)["models"]
    assert model["alias"] == {"fullName": ALIAS, "nodes": [{"nodeId": "nodstable", "trafficPercent": 90},
                                                           {"nodeId": "nodnext", "trafficPercent": 10}]}
    stable, after = model["nodes"]
    assert (stable["nodeId"], stable["status"], stable["trafficPercent"]) == ("nodstable", "HEALTHY", 90)
    assert stable["instances"] == ["HEALTHY"]
    assert stable["server"]["running"] == 2.0
    interval = stable["server"]["interval"]
    assert (interval["requests"], interval["outputTokens"], interval["seconds"]) == (20, 1000, 10.0)
    assert interval["outputTokensPerSecond"] == 100.0
    assert interval["ttftMs"]["p50"] == 100.0
    assert after["server"]["interval"]["requests"] == 0, "the canary's node served nothing in between"
    scraped = [r for r in cloud.requests if r.path == "/metrics"]
    assert {r.headers["x-node-id"] for r in scraped} == {"nodstable", "nodnext"}
    assert not [r for r in scraped if "x-node-alias" in r.headers], "a node is asked by its id, not the alias"


def test_the_screen_has_a_line_per_node_and_the_servers_latencies(cloud: FakeDatasphere,
                                                                    tmp_path: Path) -> None:
    code, out, _ = status("--outputs", str(outputs_file(cloud, tmp_path)), "--model", "stable")
    assert code == 0
    assert f"stable: tiny via {ALIAS}, g2.1" in out
    assert "  node nodstable: HEALTHY (instances: HEALTHY) 90% of traffic" in out
    assert "    now: 2 running, 0 waiting, KV cache 0.0% in use" in out
    assert "    last 10 s: 20 requests, prompt 0.0 and output 100.0 tokens/s" in out
    assert "    TTFT (ms)         p50     100.0   p99     492.0" in out


def test_a_server_that_cannot_be_read_is_said_and_exits_1(cloud: FakeDatasphere, tmp_path: Path) -> None:
    cloud.nodes["nodnext"]["status"] = "UNHEALTHY"
    code, out, _ = status("--outputs", str(outputs_file(cloud, tmp_path)), "--model", "next")
    assert code == 1
    assert "  node nodnext: UNHEALTHY (instances: HEALTHY) 10% of traffic\n    server not read: /metrics " \
           "answered HTTP 503" in out


def test_the_variables_endpoint_is_watched_through_its_alias(cloud: FakeDatasphere) -> None:
    env = {"VLLM_ENDPOINT_URL": f"{cloud.url}/v1", "VLLM_NODE_ALIAS": ALIAS, "VLLM_FOLDER_ID": FOLDER,
           "VLLM_MODEL": "tiny"}
    code, out, _ = status(env=env)
    assert code == 0
    assert f"tiny: tiny via {ALIAS}\n  server\n    now: 2 running" in out
