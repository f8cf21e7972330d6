"""Simulated node start-ups: the node provider in-process against the fake DataSphere API, on a virtual
clock shared by the provider's threads and the fake, so ten simulated minutes take well under a second.
Used by the readiness tests and printed by bench/node_startup.py."""

from __future__ import annotations

import math
import random
import threading
from collections import Counter
from dataclasses import dataclass

from components.cloud.http import Endpoints, Timing
from components.datasphere.api import DatasphereClient
from components.datasphere.node import NodeProvider
from tests.fake_datasphere import API, IAM_TOKEN, FakeDatasphere

PROJECT_ID = "bt1project0000000000"


class VirtualClock:
    """Virtual time for several threads: it moves on, to the earliest wake-up, only once every worker
    sleeps, so each thread sees the waits of a real run and none of their length."""

    def __init__(self, workers: int) -> None:
        self.now = 0.0
        self._workers = workers
        self._wakeups: list[float] = []
        self._changed = threading.Condition()

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._changed:
            wake = self.now + max(0.0, seconds)
            self._wakeups.append(wake)
            self._advance()
            while self.now < wake:
                self._changed.wait()
            self._wakeups.remove(wake)

    def finished(self) -> None:
        """A worker is done: time no longer waits for it."""
        with self._changed:
            self._workers -= 1
            self._advance()

    def _advance(self) -> None:
        if self._wakeups and len(self._wakeups) >= self._workers:
            self.now = max(self.now, min(self._wakeups))
            self._changed.notify_all()


@dataclass(frozen=True)
class NodeRun:
    name: str
    ready_at: float
    returned_at: float
    calls: Counter[str]

    @property
    def late(self) -> float:
        return self.returned_at - self.ready_at


@dataclass(frozen=True)
class Measurement:
    nodes: list[NodeRun]
    poll_interval: float
    warmup: float

    @property
    def finished_at(self) -> float:
        return max(node.returned_at for node in self.nodes)

    @property
    def slowest_ready_at(self) -> float:
        return max(node.ready_at for node in self.nodes)

    @property
    def least_calls(self) -> int:
        """The fewest calls a node can take to be seen serving within one interval of a start-up of
        `warmup` seconds: a probe in every interval, and the call that creates it."""
        return math.ceil(self.warmup / self.poll_interval) + 1


def node_props(name: str, minutes: float) -> dict[str, object]:
    return {
        "projectId": PROJECT_ID, "folderId": "b1gfolder00000000000", "name": name,
        "description": "", "labels": {},
        "image": "registry.yandexcloud.net/cn100000000000000000/vllm@sha256:" + "0" * 64,
        "registryUsername": "api_key", "passwordSecretName": "vllm-bench-pull-key", "port": 8000,
        "requestTimeoutSeconds": 180,
        "idleTimeoutSeconds": 300, "healthPath": "/health", "instanceSpec": "g2.1", "zone": "ru-central1-a",
        "instanceCount": 1, "subnetId": "e9bsubnet00000000000", "aclFolderIds": ["b1gfolder00000000000"],
        "servedModelName": "Qwen/Qwen2.5-7B-Instruct", "readyTimeoutMinutes": minutes,
    }


def _calls_by_node(fake: FakeDatasphere) -> dict[str, Counter[str]]:
    """Every request of the run, counted for the node it was about."""
    names = {node["id"]: node["name"] for node in fake.nodes.values()}
    by_operation = {op.id: op.metadata.get("nodeId") for op in fake.operations.values()}
    calls: dict[str, Counter[str]] = {name: Counter() for name in names.values()}
    for request in fake.requests:
        if request.path == "/v1/models":
            node, kind = request.headers.get("x-node-id"), "GET /v1/models (node-api)"
        elif request.path.startswith("/operations/"):
            node, kind = by_operation.get(request.path.rsplit("/", 1)[1]), "GET /operations/{id}"
        elif request.path == f"{API}nodes":
            calls[request.body["name"]][f"POST {API}nodes"] += 1
            continue
        elif request.path.startswith(f"{API}nodes/"):
            node, kind = request.path.rsplit("/", 1)[1], f"{request.method} {API}nodes/{{id}}"
        else:
            continue
        calls[names[node]][kind] += 1
    return calls


def measure(nodes: int, warmup: float, poll_interval: float, seed: int = 1) -> Measurement:
    """Start `nodes` nodes at once through one provider (one client, one token), as the engine would."""
    clock = VirtualClock(workers=nodes)
    fake = FakeDatasphere(clock=clock.time, node_warmup_seconds=warmup, operation_polls=3).start()
    fake.add_project(PROJECT_ID)
    jitter = random.Random(seed).random
    timing = Timing(poll_interval=poll_interval, sleep=clock.sleep, clock=clock.time, jitter=jitter)
    provider = NodeProvider()
    provider._client = DatasphereClient(Endpoints(fake.url, fake.url, fake.url, fake.url),
                                        lambda: IAM_TOKEN, timing)
    returned: dict[str, float] = {}

    def start(name: str) -> None:
        try:
            provider.create(node_props(name, minutes=30))
            returned[name] = clock.now
        finally:
            clock.finished()

    names = [f"vllm-bench-{index}" for index in range(nodes)]
    workers = [threading.Thread(target=start, args=(name,)) for name in names]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        fake.stop()
    ready = {node["name"]: node["ready_at"] for node in fake.nodes.values()}
    calls = _calls_by_node(fake)
    return Measurement([NodeRun(name, ready[name], returned[name], calls[name]) for name in names],
                       poll_interval, warmup)
