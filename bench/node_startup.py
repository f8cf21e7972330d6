"""Simulated ten-minute node start-up: how many API calls `create` makes and how late it returns.

Runs the node provider in-process against the fake DataSphere API on 127.0.0.1, with a
virtual clock shared by both, so ten simulated minutes take well under a second.
Usage: .venv/bin/python -m bench.node_startup [--warmup-seconds 600] [--poll-interval 10]
"""

from __future__ import annotations

import argparse
import random
from collections import Counter

from components.cloud.http import Endpoints, Timing
from components.datasphere.api import DatasphereClient
from components.datasphere.node import NodeProvider
from tests.fake_datasphere import API, IAM_TOKEN, FakeDatasphere

PROJECT_ID = "bt1project0000000000"


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


def backoff_polls(duration: float, base: float, cap: float) -> int:
    """Polls a capped exponential backoff without jitter needs to cover `duration`."""
    waited, polls, delay = 0.0, 1, base
    while waited < duration:
        waited += min(delay, cap)
        delay *= 2
        polls += 1
    return polls


def node_props(minutes: float) -> dict[str, object]:
    return {
        "projectId": PROJECT_ID, "folderId": "b1gfolder00000000000", "name": "vllm-bench",
        "description": "", "labels": {},
        "image": "registry.yandexcloud.net/cn100000000000000000/vllm@sha256:" + "0" * 64,
        "registryUsername": "api_key", "passwordSecretName": "vllm-bench-pull-key", "port": 8000,
        "requestTimeoutSeconds": 180,
        "idleTimeoutSeconds": 300, "healthPath": "/health", "instanceSpec": "g2.1", "zone": "ru-central1-a",
        "instanceCount": 1, "subnetId": "e9bsubnet00000000000", "aclFolderIds": ["b1gfolder00000000000"],
        "servedModelName": "Qwen/Qwen2.5-7B-Instruct", "readyTimeoutMinutes": minutes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup-seconds", type=float, default=600.0)
    parser.add_argument("--poll-interval", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    clock = VirtualClock()
    fake = FakeDatasphere(clock=clock.time, node_warmup_seconds=args.warmup_seconds, operation_polls=3)
    fake.start()
    fake.add_project(PROJECT_ID)
    try:
        jitter = random.Random(args.seed).random  # noqa: S311 - spreads polls, not a secret
        timing = Timing(poll_interval=args.poll_interval, sleep=clock.sleep, clock=clock.time, jitter=jitter)
        provider = NodeProvider()
        provider._client = DatasphereClient(Endpoints(fake.url, fake.url, fake.url, fake.url),
                                            lambda: IAM_TOKEN, timing)
        result = provider.create(node_props(minutes=30))
        returned_at = clock.now
        ready_at = fake.nodes[result.id]["ready_at"]
    finally:
        fake.stop()

    calls = Counter()
    for request in fake.requests:
        if request.path == "/v1/models":
            calls["GET /v1/models (node-api)"] += 1
        elif request.path.startswith("/operations/"):
            calls["GET /operations/{id}"] += 1
        elif request.path.startswith(API):
            kind = request.path.removeprefix(API).split("/")[0]
            calls[f"{request.method} {API}{kind}{'/{id}' if request.path.count('/') > 3 else ''}"] += 1
    total = sum(calls.values())
    base = args.poll_interval / 8
    needed = backoff_polls(args.warmup_seconds, base, args.poll_interval)
    late = returned_at - ready_at

    print(f"simulated start-up: model served {ready_at:.1f} s after the node was requested")
    verdict = "met" if late <= args.poll_interval else "MISSED"
    print(f"create returned at {returned_at:.1f} s: {late:.2f} s after readiness "
          f"(aim: at most one poll interval, {args.poll_interval:g} s) -> {verdict}")
    print(f"API calls: {total}")
    for name, count in sorted(calls.items()):
        print(f"  {count:4d}  {name}")
    readiness_polls = calls["GET /v1/models (node-api)"]
    print(f"readiness probes: {readiness_polls}; a capped exponential backoff without jitter needs {needed} "
          f"(with jitter, waits are 50-100% of it, so up to {2 * needed}) -> "
          f"{'met' if readiness_polls <= 2 * needed else 'MISSED'}")


if __name__ == "__main__":
    main()
