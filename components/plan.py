"""Which DataSphere configuration to pick for a model, before deploying anything.

    python -m components.plan Qwen/Qwen2.5-7B-Instruct [--max-model-len N] [--quantization Q] ...

For every GPU configuration: whether the model runs and fits, the longest context that fits, the memory
split (weights, KV cache, vLLM's runtime overhead) and what an instance costs, cheapest fitting first.
It is the preview's own preflight (components/preflight.py) on each configuration in turn, reading the
model's facts the same way: from the Hugging Face Hub, else from the cache a preview left
(`VLLM_DATASPHERE_CACHE`), and with `--params-billion` with neither. `HF_HUB_OFFLINE=1` keeps it off
the network. Exit codes: 0 when some configuration fits, 1 when none does, 2 for a bad argument or a
model whose size is unknown.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from components import platform
from components.config_models import ModelKeys, read_keys
from components.config_parsing import ConfigProblem, Problems
from components.cost import configuration_rate
from components.hub import HubAccess, HubAccessError, LoadedFacts, load_model_facts
from components.memory import MemoryEstimate, gib, tokens_that_fit
from components.model_settings import ModelSettings, parse_model
from components.preflight import trials

# The stack's keys the command takes, as its flags.
FLAGS = {"maxModelLen": "--max-model-len", "quantization": "--quantization", "dtype": "--dtype",
         "modelParamsBillion": "--params-billion", "gpuMemoryUtilization": "--gpu-memory-utilization",
         "modelRevision": "--revision", "vllmImage": "--vllm-image", "model": "MODEL"}
_CONFIG_SET = re.compile(r"pulumi config (?:set|rm) (\w+)")
# Problems no configuration changes: the model's size, its context length, a precision it cannot run in.
_MODEL_KEYS = frozenset({"modelParamsBillion", "maxModelLen", "dtype"})


@dataclass(frozen=True)
class Row:
    configuration: platform.Configuration
    result: MemoryEstimate | None
    why_not: str | None

    @property
    def fits(self) -> bool:
        return self.why_not is None


def as_flags(message: str) -> str:
    """A preview message with its `pulumi config set KEY` fixes said as this command's flags."""
    return _CONFIG_SET.sub(lambda m: FLAGS.get(m[1], m[0]), message)


def first_sentence(problem: ConfigProblem) -> str:
    return problem.message.split(". ", 1)[0]


def plan_rows(base: ModelSettings, loaded: LoadedFacts, warnings: list[str]
              ) -> tuple[list[Row], list[ConfigProblem]]:
    """One row a GPU configuration, fitting ones first and each part cheapest first; or the problems
    no configuration changes (an unknown size, a context longer than the model's)."""
    rows = []
    for trial in trials(base, loaded):
        warnings.extend(w for w in trial.warnings if w not in warnings)
        if trial.runnable and (trial.result is None or any(p.key in _MODEL_KEYS for p in trial.problems)):
            return [], [p for p in trial.problems if p.key != "instanceSpec"]
        why = first_sentence(trial.problems[0]) if trial.problems else None
        rows.append(Row(trial.configuration, trial.result, why))
    return sorted(rows, key=lambda row: not row.fits), []


def longest_context(result: MemoryEstimate) -> int:
    """The longest `maxModelLen` that fits, at most the model's own."""
    own = result.size.shape.context_length if result.size.shape else None
    tokens = tokens_that_fit(result.size, result.plan)
    return min(tokens, own) if own else tokens


def render(rows: list[Row]) -> list[str]:
    header = ("config", "GPUs", "fits", "longest ctx", "weights", "KV cache", "overhead", "needed/avail GiB",
              "RUB/h", "RUB/month")
    table = [header]
    for row in rows:
        c, r = row.configuration, row.result
        rate = configuration_rate(c)
        memory = (("-",) * 5 if r is None else
                  (str(longest_context(r)), str(gib(r.weights_bytes)), str(gib(r.kv_cache_bytes)),
                   str(gib(r.overhead_bytes)), f"{gib(r.needed_bytes)}/{gib(r.available_bytes)}"))
        verdict = "yes" if row.fits else "no"
        if r is not None and r.unsure:
            verdict += ", close"
        table.append((c.name, c.describe(), verdict, *memory, f"{rate.rub_per_hour:,.2f}",
                      f"{rate.rub_per_month:,.0f}"))
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
             for line in table]
    lines += [f"  {row.configuration.name}: {row.why_not}" for row in rows if row.why_not]
    return lines


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m components.plan", description=__doc__.split("\n\n", 1)[0],
        epilog="Exit codes: 0 some configuration fits; 1 none does; 2 a bad argument or an unknown size.")
    parser.add_argument("model", metavar="MODEL", help="Hugging Face model id, e.g. Qwen/Qwen2.5-7B-Instruct")
    parser.add_argument("--max-model-len", default="0",
                        help="context length in tokens (default: the model's own)")
    parser.add_argument("--quantization", default="", help="vLLM quantization method, e.g. awq or fp8")
    parser.add_argument("--dtype", default="auto", help="precision (default: %(default)s)")
    parser.add_argument("--params-billion", default="", help="parameters in billions, when the Hub is out of "
                        "reach and nothing is cached")
    parser.add_argument("--gpu-memory-utilization", default="0.9", help="default: %(default)s")
    parser.add_argument("--revision", default="", help="Hub commit (default: the current one)")
    parser.add_argument("--vllm-image", default=platform.DEFAULT_VLLM_IMAGE, help="default: %(default)s")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    raw = {"model": args.model, "maxModelLen": args.max_model_len, "quantization": args.quantization,
           "dtype": args.dtype, "modelParamsBillion": args.params_billion,
           "gpuMemoryUtilization": args.gpu_memory_utilization, "modelRevision": args.revision,
           "vllmImage": args.vllm_image, "instanceSpec": platform.AUTO_INSTANCE_SPEC}
    shape, refused = read_keys(ModelKeys, raw, "a model setting")
    parser = Problems(refused)
    base = parse_model(shape, parser, name="plan", suffix="", default_alias="vllm-plan")
    if parser:
        for problem in parser:
            print(f"plan: {FLAGS.get(problem.key, problem.key)} = {problem.value!r}: "
                  f"{as_flags(problem.message)}", file=sys.stderr)
        return 2
    try:
        loaded = load_model_facts(base.model, HubAccess.from_environment(os.environ.get("HF_TOKEN")),
                                  base.model_revision)
    except HubAccessError as error:
        print(f"plan: {args.model}: {as_flags(str(error))}", file=sys.stderr)
        return 2
    warnings: list[str] = []
    rows, problems = plan_rows(base, loaded, warnings)
    for warning in warnings:
        print(f"note: {as_flags(warning)}", file=sys.stderr)
    for problem in problems:
        print(f"plan: {FLAGS.get(problem.key, problem.key)}: {as_flags(problem.message)}", file=sys.stderr)
    if problems:
        return 2
    source = loaded.origin + (f": {loaded.unavailable_reason}" if loaded.unavailable_reason else "")
    first = next(row.result for row in rows if row.result is not None)
    print(f"{args.model}: {first.size.parameters / 1e9:.1f}B parameters ({first.size.parameters_source}, "
          f"facts from {source}), maxModelLen {first.plan.max_model_len}, dtype {args.dtype}, "
          f"gpuMemoryUtilization {first.plan.gpu_memory_utilization}; {platform.RUB_PER_UNIT} RUB a unit "
          f"with VAT, {platform.HOURS_PER_MONTH} h a month, per instance")
    for line in render(rows):
        print(line)
    return 0 if any(row.fits for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
