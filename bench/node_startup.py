"""Simulated ten-minute node start-ups: the API calls `create` makes per node and how late it returns,
for one node and for several started at once (as the engine starts independent resources).

Runs the node provider in-process against the fake DataSphere API on 127.0.0.1, with a virtual
clock shared by the provider's threads and the fake, so ten simulated minutes take well under a second.
Usage: .venv/bin/python -m bench.node_startup [--warmup-seconds 600] [--poll-interval 10] [--nodes 1 3]
"""

from __future__ import annotations

import argparse
from collections import Counter

from tests.startup_simulation import Measurement, measure


def report(result: Measurement) -> None:
    interval = result.poll_interval
    count = len(result.nodes)
    print(f"{count} node(s), each ready {result.warmup:g} s after it turns HEALTHY, "
          f"poll interval {interval:g} s")
    for node in result.nodes:
        total = sum(node.calls.values())
        probes = node.calls["GET /v1/models (node-api)"]
        verdict = "met" if node.late <= interval else "MISSED"
        print(f"  {node.name}: served at {node.ready_at:.1f} s, create returned {node.late:.2f} s later "
              f"(at most one interval: {verdict}); {total} API calls, {probes} of them readiness probes")
    for kind, number in sorted(sum((n.calls for n in result.nodes), Counter()).items()):
        print(f"    {number / count:6.1f}  {kind} per node")
    serial = sum(node.returned_at for node in result.nodes)
    bound = result.slowest_ready_at + interval
    print(f"  all returned at {result.finished_at:.1f} s: the slowest was served at "
          f"{result.slowest_ready_at:.1f} s (at most one interval later: "
          f"{'met' if result.finished_at <= bound else 'MISSED'}); one after another would take "
          f"{serial:.1f} s")
    print(f"  the floor for being seen within one interval: {result.least_calls} calls per node "
          "(a probe in every interval of the start-up, and the create call); the create operation's "
          "polls come on top")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup-seconds", type=float, default=600.0)
    parser.add_argument("--poll-interval", type=float, default=10.0)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for count in args.nodes:
        report(measure(count, args.warmup_seconds, args.poll_interval, args.seed))


if __name__ == "__main__":
    main()
