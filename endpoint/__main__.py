"""python -m endpoint check | bench | status | doctor: use the deployed endpoint from the command line,
watch it, or check an account before deploying.

Exit codes: 0 done; 1 the endpoint did not serve or every request failed (status: a server could not be
read; doctor: an assumption differs);
2 the endpoint or credentials could not be found (doctor: one could not be told); 3 the endpoint refused
the token (401/403, with the missing role).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from components.cloud.endpoints import endpoints_from
from components.config_files import stack_config
from endpoint import bench as bench_module
from endpoint import doctor as doctor_module
from endpoint import status as status_module
from endpoint import sweep as sweep_module
from endpoint.auth import AuthError, iam_token
from endpoint.bench import BenchPlan, report, run_bench, takes_ignore_eos, with_server_view
from endpoint.check import NotServing, run_check
from endpoint.doctor import doctor
from endpoint.exits import EXIT_FAILED, EXIT_OK, failed
from endpoint.openai_http import Clock, Target
from endpoint.outputs import (
    ENV_STACK_MODEL,
    Endpoint,
    OutputsError,
    find_endpoint,
    read_outputs,
    status_endpoint,
)
from endpoint.status import Status, datasphere_client, run_status, watched_models
from endpoint.sweep import Slo, default_levels, prompt_for, run_sweep, sweep_report, sweep_svg

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_PROMPT = "Explain in three sentences what a KV cache is."


def _number(kind: Callable[[str], float], low: float, strict: bool) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"{text} is not {'above' if strict else 'at least'} {low:g}")
        return value
    parse.__name__ = kind.__name__
    return parse


POSITIVE_INT = _number(int, 1, strict=False)
POSITIVE = _number(float, 0, strict=True)
NOT_NEGATIVE = _number(float, 0, strict=False)


def levels_list(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",")]
    except ValueError:
        levels = []
    if not levels or min(levels) < 1 or levels != sorted(set(levels)):
        raise argparse.ArgumentTypeError(f"{text} is not rising whole numbers from 1, e.g. 1,2,4,8")
    return levels


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown (where there is one); descriptions kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False):
            return action.help
        return super()._get_help_string(action)


def parser() -> argparse.ArgumentParser:
    formatter = HelpFormatter
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--outputs", type=Path, help="a saved `pulumi stack output --json` (default: "
                       "VLLM_ENDPOINT_URL and friends, else the current Pulumi stack)")
    where.add_argument("--stack", help="the Pulumi stack to read outputs from")
    where.add_argument("--model", metavar="NAME", help="the entry of the stack's models to call (default: "
                       "VLLM_STACK_MODEL, else the stack's only model)")
    where.add_argument("--key-file", help="service account key for an IAM token (default: YC_IAM_TOKEN, "
                       "YC_SERVICE_ACCOUNT_KEY_FILE, then `yc iam create-token`)")
    where.add_argument("--iam-endpoint", help=argparse.SUPPRESS)
    common = argparse.ArgumentParser(add_help=False, parents=[where])
    common.add_argument("--prompt", default=DEFAULT_PROMPT, help="the user message sent")
    common.add_argument("--max-tokens", type=POSITIVE_INT, default=128, help="output tokens per request")
    common.add_argument("--timeout", type=POSITIVE, default=120.0, help="seconds a request may take")
    common.add_argument("--stall-seconds", type=POSITIVE, default=30.0,
                        help="seconds without a byte after which a request fails as stalled")

    top = argparse.ArgumentParser(prog="python -m endpoint", description=__doc__.splitlines()[0],
                                  formatter_class=formatter)
    commands = top.add_subparsers(dest="command", required=True)
    exits = __doc__.split("\n\n", 1)[1].strip()
    check = commands.add_parser("check", parents=[common], formatter_class=formatter, epilog=exits,
                                help="wait until it serves, list models, time one chat completion",
                                description="Wait through a node that is still loading (503s) until "
                                "/v1/models lists the model, then time one chat completion.")
    check.add_argument("--wait-minutes", type=NOT_NEGATIVE, default=30.0,
                       help="how long to wait through a node that is still loading")
    check.add_argument("--interval", type=POSITIVE, default=5.0, help="seconds between readiness polls")
    bench = commands.add_parser("bench", parents=[common], formatter_class=formatter,
                                help="concurrent streaming requests for a while; TTFT, TPOT, ITL, E2E "
                                "latency and throughput as vLLM's own benchmark measures them",
                                description=bench_module.__doc__, epilog=exits)
    bench.add_argument("--concurrency", type=POSITIVE_INT, default=4, help="requests in flight at once")
    bench.add_argument("--duration", type=POSITIVE, default=30.0, help="seconds to keep sending")
    bench.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    sweep = bench.add_argument_group("a sweep of concurrency levels (" + sweep_module.__doc__.splitlines()[0]
                                     .removeprefix("`bench --sweep`: ") + ")")
    sweep.add_argument("--sweep", action="store_true", help="run levels of concurrency, each for --duration "
                       "seconds, and report the capacity within the SLO and its cost")
    sweep.add_argument("--levels", type=levels_list, help="the concurrency levels, e.g. 1,2,4 (default: 1, "
                       "2, 4, ... up to --max-concurrency)")
    sweep.add_argument("--max-concurrency", type=POSITIVE_INT, default=64, help="the last default level")
    sweep.add_argument("--input-tokens", type=POSITIVE_INT, default=256,
                       help="words in each prompt (about as many tokens; the server's count is reported)")
    sweep.add_argument("--output-tokens", type=POSITIVE_INT, default=128,
                       help="tokens each request makes (ignore_eos where the server takes it)")
    sweep.add_argument("--seed", type=int, default=0, help="seed of the prompts: same seed, same prompts")
    sweep.add_argument("--slo-ttft-ms", type=POSITIVE, default=2000.0, help="p99 time to first token target")
    sweep.add_argument("--slo-tpot-ms", type=POSITIVE, default=100.0,
                       help="p99 time per output token target")
    sweep.add_argument("--rub-per-hour", type=POSITIVE, help="the node's price (default: the stack's cost "
                       "output for the model)")
    sweep.add_argument("--plot", type=Path, default=Path("bench-sweep.svg"),
                       help="where the picture of throughput against p99 TPOT goes")
    watch = commands.add_parser("status", parents=[where], formatter_class=formatter, epilog=exits,
                                help="every model's nodes, alias and live server figures on one screen",
                                description=status_module.__doc__)
    watch.add_argument("--interval", type=POSITIVE, default=5.0,
                       help="seconds between the two readings the rates and latencies are taken over")
    watch.add_argument("--watch", action="store_true", help="a new screen every interval, until Ctrl-C")
    watch.add_argument("--json", action="store_true", help="each screen as one JSON object on a line")
    checkup = commands.add_parser(
        "doctor", formatter_class=formatter, help="before deploying: does this account answer as the stack "
        "assumes? One line per assumption, nothing created", description=doctor_module.__doc__)
    checkup.add_argument("--stack", default="dev", help="the stack whose Pulumi.<stack>.yaml is read")
    checkup.add_argument("--transcript", type=Path, default=Path("doctor-transcript.json"),
                         help="where the exchanges go, every token and secret removed")
    return top


def main(argv: Sequence[str] | None = None, *, env: Mapping[str, str] | None = None,
         clock: Clock = time.monotonic, sleep: Callable[[float], None] = time.sleep,
         out: TextIO | None = None, err: TextIO | None = None) -> int:
    args = parser().parse_args(argv)
    env = os.environ if env is None else env
    out = out or sys.stdout
    err = err or sys.stderr
    if args.command == "doctor":
        return doctor(PROJECT_DIR, args.stack, args.transcript, env, out)
    try:
        if args.command == "status":
            return status(args, env, clock, sleep, out)
        endpoint = find_endpoint(args.outputs, args.stack, env, PROJECT_DIR, model=args.model)
        token = iam_token(args.key_file, env, args.iam_endpoint)
        target = Target(endpoint.url, {**endpoint.headers, "Authorization": f"Bearer {token}"}, args.timeout,
                        args.stall_seconds)
        if args.command == "check":
            run_check(target, endpoint, wait_seconds=args.wait_minutes * 60, interval=args.interval,
                      prompt=args.prompt, max_tokens=args.max_tokens, clock=clock, sleep=sleep, out=out)
            return EXIT_OK
        if args.sweep:
            return sweep(args, target, endpoint, clock, sleep, out, err)
        plan = BenchPlan(args.concurrency, args.duration, args.prompt, args.max_tokens)
        summary = with_server_view(target, endpoint, clock,
                                   lambda: run_bench(target, endpoint, plan, clock, sleep, err))
        out.write(json.dumps(summary, indent=2) + "\n" if args.json else report(summary) + "\n")
        return EXIT_OK if summary["succeeded"] else EXIT_FAILED
    except (AuthError, OutputsError, NotServing) as error:
        return failed(error, err)


def sweep(args: argparse.Namespace, target: Target, endpoint: Endpoint, clock: Clock,
          sleep: Callable[[float], None], out: TextIO, err: TextIO) -> int:
    extra = {"ignore_eos": True} if takes_ignore_eos(target, endpoint, clock) else {}
    if not extra:
        err.write("bench: the server refused ignore_eos: output lengths vary with the model\n")

    def run_level(concurrency: int) -> dict[str, Any]:
        err.write(f"concurrency {concurrency}\n")
        plan = BenchPlan(concurrency, args.duration, args.prompt, args.output_tokens,
                         prompts=lambda n: prompt_for(args.seed, n, args.input_tokens), extra=extra)
        return with_server_view(target, endpoint, clock, lambda: run_bench(target, endpoint, plan, clock,
                                                                           sleep, err))

    levels = args.levels or default_levels(args.max_concurrency)
    result = run_sweep(levels, run_level, Slo(args.slo_ttft_ms, args.slo_tpot_ms),
                       args.rub_per_hour or endpoint.rub_per_hour)
    result["ignoreEos"] = bool(extra)
    args.plot.write_text(sweep_svg(result), encoding="utf-8")
    out.write(json.dumps(result, indent=2) + "\n" if args.json else
              sweep_report(result) + f"\npicture: {args.plot}\n")
    return EXIT_OK if result["capacity"] is not None else EXIT_FAILED


def status(args: argparse.Namespace, env: Mapping[str, str], clock: Clock, sleep: Callable[[float], None],
           out: TextIO) -> int:
    outputs = read_outputs(args.outputs, args.stack, env, PROJECT_DIR)
    endpoint = status_endpoint(outputs, env)
    token = iam_token(args.key_file, env, args.iam_endpoint)
    endpoints = endpoints_from(stack_config(PROJECT_DIR, args.stack or "dev"))
    watcher = Status(endpoint, token, datasphere_client(outputs, token, endpoints), clock)
    models = watched_models(outputs, endpoint, args.model or env.get(ENV_STACK_MODEL) or None)
    try:
        view = run_status(watcher, models, interval=args.interval, watch=args.watch, as_json=args.json,
                          out=out, sleep=sleep)
    except KeyboardInterrupt:
        return EXIT_OK
    unread = [node for model in view for node in model["nodes"] if "error" in node["server"]]
    return EXIT_FAILED if unread else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
