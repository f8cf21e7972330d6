"""`status`: every model of the stack on one screen, as DataSphere has it and as its server sees itself.

Per model: its alias and the share of traffic it sends each node (the DataSphere API), each node's
status, and each node's vLLM server from its own `/metrics`, read through node-api with `x-node-id` so
that a canary's two nodes are told apart: requests running and waiting, KV cache in use, and over the
last interval the prompt and output tokens a second, the prefix cache hit rate, preemptions, and TTFT,
TPOT and E2E latency (p50, p99) from the server's histograms. Without the stack's outputs (the
`VLLM_ENDPOINT_URL` variables) only the server's view is shown, through the alias.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from components.cloud.credentials import TokenSource
from components.cloud.http import ApiError, Endpoints, Timing
from components.datasphere.api import DatasphereClient
from endpoint.bench import figure
from endpoint.metrics import MetricsError, Scrape, gauges, read_scrape, server_run
from endpoint.openai_http import Clock, Target
from endpoint.outputs import Endpoint

LATENCIES = (("ttftMs", "TTFT"), ("tpotMs", "TPOT"), ("e2eLatencyMs", "E2E latency"))


@dataclass(frozen=True)
class Watched:
    """A model to watch: where its server answers, and what DataSphere holds for it (None: unknown)."""

    name: str
    served_model_name: str
    headers: Mapping[str, str]
    alias_full_name: str | None = None
    alias_id: str | None = None
    node_ids: tuple[str, ...] = ()
    instance_spec: str | None = None


def watched_models(outputs: Mapping[str, Any] | None, endpoint: Endpoint, model: str | None
                   ) -> list[Watched]:
    """The stack's models (or the one named), or the endpoint the variables name."""
    if outputs is None:
        return [Watched(endpoint.model, endpoint.model, endpoint.headers,
                        endpoint.headers.get("x-node-alias"))]
    entries: Mapping[str, Any] = outputs.get("models") or {"default": outputs}
    chosen = {model: entries[model]} if model is not None else entries
    return [Watched(name, str(entry.get("servedModelName", "")), dict(entry.get("headers") or {}),
                    entry.get("aliasFullName"), entry.get("aliasId"),
                    tuple(entry.get("aliasNodeIds") or ([entry["nodeId"]] if entry.get("nodeId") else [])),
                    entry.get("instanceSpec"))
            for name, entry in chosen.items()]


class Status:
    """Reads the platform and the servers; keeps each server's last scrape for the next interval."""

    def __init__(self, endpoint: Endpoint, token: str, datasphere: DatasphereClient | None, clock: Clock
                 ) -> None:
        self.endpoint, self.token, self.datasphere, self.clock = endpoint, token, datasphere, clock
        self.last: dict[str, Scrape] = {}

    def _target(self, headers: Mapping[str, str]) -> Target:
        return Target(self.endpoint.url, {**headers, "Authorization": f"Bearer {self.token}"}, 30.0, 30.0)

    def scrape_all(self, models: Sequence[Watched]) -> dict[str, Scrape | str]:
        """Each server's scrape now (by node id, or alias where nodes are unknown), or why it failed."""
        found: dict[str, Scrape | str] = {}
        for watched in models:
            for key, headers in _servers(watched):
                try:
                    found[key] = read_scrape(self._target(headers), self.clock, watched.served_model_name)
                except MetricsError as error:
                    found[key] = str(error)
        return found

    def snapshot(self, models: Sequence[Watched], scrapes: Mapping[str, Scrape | str]
                 ) -> list[dict[str, Any]]:
        """Every model's view; the interval is from each server's previous scrape to this one."""
        view = [self._model(watched, scrapes) for watched in models]
        self.last.update({key: scrape for key, scrape in scrapes.items() if isinstance(scrape, Scrape)})
        return view

    def _model(self, watched: Watched, scrapes: Mapping[str, Scrape | str]) -> dict[str, Any]:
        alias = self._alias(watched)
        shares = {n["nodeId"]: n.get("trafficPercent") for n in alias.get("nodes", [])}
        nodes = [{"nodeId": key if watched.node_ids else None, **self._node(watched, key),
                  "trafficPercent": shares.get(key), "server": self._server(key, scrapes[key])}
                 for key, _ in _servers(watched)]
        return {"name": watched.name, "servedModelName": watched.served_model_name,
                "instanceSpec": watched.instance_spec, "alias": alias, "nodes": nodes}

    def _alias(self, watched: Watched) -> dict[str, Any]:
        alias: dict[str, Any] = {"fullName": watched.alias_full_name}
        if self.datasphere is None or not watched.alias_id:
            return alias
        try:
            found = self.datasphere.get_alias(watched.alias_id)
        except ApiError as error:
            return {**alias, "error": str(error)}
        if found is None:
            return {**alias, "error": f"alias {watched.alias_id} is gone (deleted outside Pulumi?)"}
        return {**alias, "nodes": [{"nodeId": n.get("nodeId"), "trafficPercent": n.get("trafficPercent")}
                                   for n in found.get("nodes") or []]}

    def _node(self, watched: Watched, node_id: str) -> dict[str, Any]:
        if self.datasphere is None or not watched.node_ids:
            return {}
        try:
            node = self.datasphere.get_node(node_id)
        except ApiError as error:
            return {"error": str(error)}
        if node is None:
            return {"status": "GONE"}
        instances = [i.get("status") for i in node.get("instances") or []]
        return {"status": node.get("status"), "instances": instances or None}

    def _server(self, key: str, scrape: Scrape | str) -> dict[str, Any]:
        if isinstance(scrape, str):
            return {"error": scrape}
        before = self.last.get(key)
        now = gauges(scrape)
        if before is None:
            return {**now, "interval": None}
        return {**now, "interval": server_run(before, scrape)}


def _servers(watched: Watched) -> list[tuple[str, Mapping[str, str]]]:
    """Where each of the model's servers answers: per node with x-node-id, else the alias's headers."""
    if not watched.node_ids:
        return [(watched.alias_full_name or watched.name, watched.headers)]
    base = {k: v for k, v in watched.headers.items() if k != "x-node-alias"}
    return [(node, {**base, "x-node-id": node}) for node in watched.node_ids]


def render(view: Sequence[Mapping[str, Any]], at: str) -> str:
    """The screen: a block per model, a line per node, the server's figures under it."""
    lines = [f"vllm-datasphere status at {at}"]
    for model in view:
        alias = model["alias"]
        where = alias.get("fullName") or "-"
        if "error" in alias:
            where += f" (alias not read: {alias['error']})"
        spec = f", {model['instanceSpec']}" if model.get("instanceSpec") else ""
        lines.append(f"\n{model['name']}: {model['servedModelName']} via {where}{spec}")
        for node in model["nodes"]:
            lines += _node_lines(node)
    return "\n".join(lines)


def _node_lines(node: Mapping[str, Any]) -> list[str]:
    share = f" {node['trafficPercent']}% of traffic" if node.get("trafficPercent") is not None else ""
    status = node.get("status") or ("not read: " + node["error"] if "error" in node else "")
    instances = f" (instances: {', '.join(node['instances'])})" if node.get("instances") else ""
    head = f"  node {node['nodeId']}: {status}{instances}{share}" if node.get("nodeId") else "  server"
    server = node["server"]
    if "error" in server:
        return [head, f"    server not read: {server['error']}"]
    lines = [head, f"    now: {server['running']:.0f} running, {server['waiting']:.0f} waiting, KV cache "
                   f"{server['kvCacheUsage']:.1%} in use"]
    run = server.get("interval")
    if run is None:
        return [*lines, "    (rates and latencies from the next reading on)"]
    hits = "-" if run["prefixCacheHitRate"] is None else f"{run['prefixCacheHitRate']:.1%}"
    lines.append(f"    last {run['seconds']:.0f} s: {run['requests']} requests, prompt "
                 f"{run['promptTokensPerSecond']:.1f} and output {run['outputTokensPerSecond']:.1f} "
                 f"tokens/s, prefix cache hits {hits}, {run['preemptions']} preemptions")
    for key, name in LATENCIES:
        figures = run[key]
        lines.append(f"    {name + ' (ms)':18}p50 {figure(figures['p50']):>9}   "
                     f"p99 {figure(figures['p99']):>9}")
    return lines


def datasphere_client(outputs: Mapping[str, Any] | None, token: str, endpoints: Endpoints
                      ) -> DatasphereClient | None:
    """A client of the DataSphere API with the caller's token, where the stack's outputs name its nodes."""
    if outputs is None:
        return None
    timing = Timing(retry_deadline=20.0, request_timeout=15.0)
    return DatasphereClient(endpoints, TokenSource("iam", token, endpoints, timing), timing)


def run_status(status: Status, models: Sequence[Watched], *, interval: float, watch: bool, as_json: bool,
               out: TextIO, sleep: Callable[[float], None] = time.sleep,
               now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> list[dict[str, Any]]:
    """Two readings `interval` apart, then one screen; with `watch`, a screen every interval until
    interrupted. JSON: one object a screen, on a line of its own. The last screen's view."""
    status.snapshot(models, status.scrape_all(models))
    while True:
        sleep(interval)
        view = status.snapshot(models, status.scrape_all(models))
        at = now().strftime("%Y-%m-%d %H:%M:%S UTC")
        if as_json:
            out.write(json.dumps({"at": at, "models": view}) + "\n")
        else:
            out.write(("\x1b[2J\x1b[H" if watch and out.isatty() else "") + render(view, at) + "\n")
        out.flush()
        if not watch:
            return view
