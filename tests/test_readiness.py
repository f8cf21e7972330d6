"""How create waits for a model: the probe schedule on a virtual clock, and the simulated start-ups of one
node and of three at once (tests/startup_simulation.py, which bench/node_startup.py prints; virtual time:
no test waits for real)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pytest

from components.cloud.http import HttpAnswer, Timing
from components.datasphere.node import Readiness, wait_until_serving
from tests.startup_simulation import VirtualClock, measure

MODEL = "Qwen/Qwen2.5-7B-Instruct"
SERVING = HttpAnswer(200, {"data": [{"id": MODEL}]}, "")
LOADING = HttpAnswer(503, {"message": "model is loading"}, "")


@dataclass
class StubClient:
    """The two calls the wait makes, answering on a virtual clock: HEALTHY from `healthy_at`, serving
    from `serving_at`; `answers` are given first, in order, whatever the time."""

    timing: Timing
    clock: VirtualClock
    healthy_at: float
    serving_at: float
    answers: list[HttpAnswer] = field(default_factory=list)
    node_reads: list[float] = field(default_factory=list)
    probes: list[float] = field(default_factory=list)

    def get_node(self, _node_id: str) -> dict[str, Any]:
        self.node_reads.append(self.clock.now)
        return {"status": "HEALTHY" if self.clock.now >= self.healthy_at else "CREATED"}

    def probe_models(self, _folder_id: str, _node_id: str) -> HttpAnswer:
        self.probes.append(self.clock.now)
        if self.answers:
            return self.answers.pop(0)
        return SERVING if self.clock.now >= self.serving_at else LOADING


def stub(healthy_at: float, serving_at: float, interval: float = 10.0) -> StubClient:
    clock = VirtualClock(workers=1)
    timing = Timing(poll_interval=interval, sleep=clock.sleep, clock=clock.time, jitter=lambda: 1.0)
    return StubClient(timing, clock, healthy_at, serving_at)


def test_an_operation_that_says_healthy_saves_the_node_read_and_probes_once_an_interval() -> None:
    client = stub(healthy_at=0.0, serving_at=95.0)
    wait_until_serving(client, "nod1", "b1gfolder", MODEL, 1800, Readiness(), {"status": "HEALTHY"})
    assert client.node_reads == []
    assert client.probes == [10.0 * n for n in range(1, 11)]
    assert client.clock.now - client.serving_at <= 10.0


@pytest.mark.parametrize("serving_at", [0.5, 9.99, 10.0, 333.3, 600.0])
def test_create_returns_within_one_interval_of_serving_with_a_probe_an_interval(serving_at: float) -> None:
    client = stub(healthy_at=0.0, serving_at=serving_at)
    wait_until_serving(client, "nod1", "b1gfolder", MODEL, 1800, Readiness(), {"status": "HEALTHY"})
    assert 0 <= client.clock.now - serving_at <= 10.0
    assert len(client.probes) == max(1, math.ceil(serving_at / 10.0))
    gaps = {round(b - a, 9) for a, b in zip(client.probes, client.probes[1:], strict=False)}
    assert gaps <= {10.0}


def test_a_node_not_yet_healthy_is_read_with_backoff_first() -> None:
    client = stub(healthy_at=4.0, serving_at=30.0)
    wait_until_serving(client, "nod1", "b1gfolder", MODEL, 1800, Readiness(), {"status": "CREATED"})
    # Waits of 1.25 s (after the operation's answer and the first read), then doubling (jitter 1: in full).
    assert client.node_reads == [1.25, 2.5, 5.0]
    assert client.probes[0] == 15.0
    assert client.clock.now - client.serving_at <= 10.0


def test_an_answer_no_loading_node_gives_makes_it_read_the_node_again() -> None:
    client = stub(healthy_at=0.0, serving_at=0.0)
    client.answers = [HttpAnswer(404, {"message": "node not found"}, "")]
    seen = Readiness()
    wait_until_serving(client, "nod1", "b1gfolder", MODEL, 1800, seen, {"status": "HEALTHY"})
    assert client.probes == [10.0, 11.25]
    assert client.node_reads == [11.25]


def test_the_deadline_ends_the_wait_with_what_was_seen() -> None:
    client = stub(healthy_at=0.0, serving_at=10_000.0)
    seen = Readiness()
    with pytest.raises(TimeoutError, match=r"not serving 'Qwen/Qwen2.5-7B-Instruct' within 1 min"):
        wait_until_serving(client, "nod1", "b1gfolder", MODEL, 60, seen, {"status": "HEALTHY"})
    assert client.clock.now == 60.0
    assert seen.describe() == "last node status HEALTHY, last /v1/models answer HTTP 503 ''"


def test_a_start_shorter_than_one_interval_is_seen_at_the_deadline() -> None:
    # Serving 3 s after HEALTHY, with a 5 s budget and a 10 s interval: no regular probe comes in time.
    client = stub(healthy_at=0.0, serving_at=3.0)
    wait_until_serving(client, "nod1", "b1gfolder", MODEL, 5, Readiness(), {"status": "HEALTHY"})
    assert client.probes == [5.0]


def test_at_the_deadline_a_node_never_healthy_is_probed_once_and_the_answer_said() -> None:
    client = stub(healthy_at=10_000.0, serving_at=10_000.0)
    seen = Readiness()
    with pytest.raises(TimeoutError):
        wait_until_serving(client, "nod1", "b1gfolder", MODEL, 30, seen, {"status": "CREATED"})
    assert client.probes == [30.0]
    assert seen.describe() == "last node status CREATED, last /v1/models answer HTTP 503 ''"


def test_the_deadline_right_after_a_probe_looks_no_more() -> None:
    client = stub(healthy_at=0.0, serving_at=10_000.0)
    with pytest.raises(TimeoutError):
        wait_until_serving(client, "nod1", "b1gfolder", MODEL, 60, Readiness(), {"status": "HEALTHY"})
    assert client.probes == [10.0 * n for n in range(1, 7)]


def test_before_any_probe_the_error_says_so() -> None:
    assert Readiness().describe() == "last node status unknown, last /v1/models answer no probe had run yet"


def test_one_ten_minute_start_up_in_the_benchmark() -> None:
    [node] = measure(1, warmup=600, poll_interval=10).nodes
    assert node.late <= 10
    assert node.calls == {"POST /datasphere/v2/nodes": 1, "GET /operations/{id}": 3,
                          "GET /v1/models (node-api)": 60}


def test_three_start_ups_at_once_take_the_time_of_the_slowest_plus_one_interval_at_most() -> None:
    result = measure(3, warmup=600, poll_interval=10)
    assert len(result.nodes) == 3
    assert result.finished_at <= result.slowest_ready_at + 10
    assert result.finished_at < 2 * 600, "the three start-ups overlap; they are not taken in turn"
    for node in result.nodes:
        assert node.late <= 10
        assert node.calls["GET /v1/models (node-api)"] <= result.least_calls
        assert sum(node.calls.values()) <= result.least_calls + 4
