"""Where a client finds the endpoint: a saved `pulumi stack output --json`, variables, or Pulumi.

Only the outputs a client needs are read; the client key (`clientKeyJson`) stays with Pulumi
unless the user exports it into a key file.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Set these instead of reading the stack, e.g. where the Pulumi CLI is not installed.
ENV_URL = "VLLM_ENDPOINT_URL"
ENV_ALIAS = "VLLM_NODE_ALIAS"
ENV_FOLDER = "VLLM_FOLDER_ID"
ENV_MODEL = "VLLM_MODEL"
ENV_PROJECT = "VLLM_PROJECT_ID"
# Which entry of the stack's `models` to use, where no --model can be given (the examples).
ENV_STACK_MODEL = "VLLM_STACK_MODEL"

Runner = Callable[..., subprocess.CompletedProcess[str]]


class OutputsError(Exception):
    """The endpoint's coordinates could not be found; the message says where it looked."""


@dataclass(frozen=True)
class Endpoint:
    url: str
    headers: Mapping[str, str]
    model: str
    project_id: str | None = None
    # The model's node price, from the stack's `cost` output: what a sweep's token costs are of.
    rub_per_hour: float | None = None


def _model_outputs(outputs: Mapping[str, Any], name: str | None) -> Mapping[str, Any]:
    """The outputs of the model `name` (an entry of the `models` output), or of the only one."""
    models: Mapping[str, Any] = outputs.get("models") or {}
    if name is not None:
        if name not in models:
            listed = ", ".join(models) or "not listed (a stack from before `models`: drop --model)"
            raise OutputsError(f"the stack serves no model named {name!r}: its models are {listed}")
        return models[name]
    if not outputs.get("servedModelName") and len(models) > 1:
        raise OutputsError(f"the stack serves {len(models)} models ({', '.join(models)}): pick one with "
                           f"--model NAME (or {ENV_STACK_MODEL})")
    return outputs


def from_outputs(outputs: Mapping[str, Any], model: str | None = None) -> Endpoint:
    chosen = _model_outputs(outputs, model)
    missing = [k for k in ("endpointUrl",) if not outputs.get(k)]
    missing += [k for k in ("headers", "servedModelName") if not chosen.get(k)]
    if missing:
        raise OutputsError(f"the stack outputs lack {', '.join(missing)}: run `pulumi up` first "
                           "(or with a newer version of this project)")
    return Endpoint(url=str(outputs["endpointUrl"]).rstrip("/"), headers=dict(chosen["headers"]),
                    model=str(chosen["servedModelName"]), project_id=outputs.get("projectId"),
                    rub_per_hour=_rub_per_hour(outputs, model))


def _rub_per_hour(outputs: Mapping[str, Any], model: str | None) -> float | None:
    priced: Mapping[str, Any] = (outputs.get("cost") or {}).get("models") or {}
    if model is None and len(priced) == 1:
        model = next(iter(priced))
    entry = priced.get(model or "") or {}
    price = entry.get("rubPerHour")
    return float(price) if isinstance(price, int | float) else None


def from_environment(env: Mapping[str, str]) -> Endpoint | None:
    if not env.get(ENV_URL):
        return None
    missing = [name for name in (ENV_ALIAS, ENV_FOLDER, ENV_MODEL) if not env.get(name)]
    if missing:
        raise OutputsError(f"{ENV_URL} is set, so {', '.join(missing)} must be set too")
    return Endpoint(url=env[ENV_URL].rstrip("/"),
                    headers={"x-node-alias": env[ENV_ALIAS], "x-folder-id": env[ENV_FOLDER]},
                    model=env[ENV_MODEL], project_id=env.get(ENV_PROJECT))


def backend_env(cwd: Path, env: Mapping[str, str]) -> dict[str, str]:
    """The environment for the Pulumi CLI: where no backend is set and `scripts/up.sh` made its local one
    here, that one, so that the tools read the stack up.sh deployed (not the user's default login)."""
    chosen = dict(env)
    local = cwd / ".pulumi-state"
    if not chosen.get("PULUMI_BACKEND_URL") and local.is_dir():
        chosen["PULUMI_BACKEND_URL"] = f"file://{local}"
    return chosen


def pulumi_outputs(stack: str | None, cwd: Path, run: Runner = subprocess.run,
                   env: Mapping[str, str] | None = None) -> Mapping[str, Any]:
    """`pulumi stack output --json` of the stack (up.sh's local backend where none is set)."""
    command = ["pulumi", "stack", "output", "--json", *(["--stack", stack] if stack else [])]
    try:
        done = run(command, cwd=cwd, capture_output=True, text=True, check=False, timeout=120,
                   env=backend_env(cwd, os.environ if env is None else env))
    except FileNotFoundError:
        raise OutputsError(f"the Pulumi CLI is not installed: set {ENV_URL}, {ENV_ALIAS}, {ENV_FOLDER} "
                           f"and {ENV_MODEL} (`python -m endpoint` also takes --outputs with a saved "
                           "`pulumi stack output --json`)") from None
    if done.returncode != 0:
        raise OutputsError(f"`{' '.join(command)}` failed: {done.stderr.strip()[:300]}")
    return _outputs_json(done.stdout, f"`{' '.join(command)}`")


def _outputs_json(text: str, source: str) -> Mapping[str, Any]:
    """Stack outputs as JSON, or an `OutputsError` saying what came instead (never a traceback)."""
    try:
        outputs = json.loads(text)
    except ValueError:
        shown = text.strip()[:120] or "nothing"
        raise OutputsError(f"{source} gave no JSON ({shown!r}): is it the stack `pulumi up` made?") from None
    if not isinstance(outputs, dict):
        raise OutputsError(f"{source} gave {type(outputs).__name__}, not the stack's outputs")
    return outputs


def read_outputs(outputs_file: Path | None, stack: str | None, env: Mapping[str, str], project_dir: Path,
                 run: Runner = subprocess.run) -> Mapping[str, Any] | None:
    """The stack's outputs from --outputs, else from Pulumi; None where the variables name the endpoint."""
    if outputs_file is not None:
        try:
            text = outputs_file.read_text()
        except OSError as error:
            raise OutputsError(f"cannot read {outputs_file}: {error.strerror}") from None
        return _outputs_json(text, str(outputs_file))
    if env.get(ENV_URL):
        return None
    return pulumi_outputs(stack, project_dir, run, env)


def find_endpoint(outputs_file: Path | None, stack: str | None, env: Mapping[str, str],
                  project_dir: Path, run: Runner = subprocess.run, model: str | None = None) -> Endpoint:
    """The first source that is given: --outputs, then the variables, then the Pulumi stack.
    `model` (else VLLM_STACK_MODEL) picks an entry of the stack's `models`."""
    model = model or env.get(ENV_STACK_MODEL) or None
    outputs = read_outputs(outputs_file, stack, env, project_dir, run)
    return _of_variables(env) if outputs is None else from_outputs(outputs, model)


def _of_variables(env: Mapping[str, str]) -> Endpoint:
    """The endpoint the variables name, where `read_outputs` found them set instead of outputs."""
    found = from_environment(env)
    assert found is not None, "read_outputs returns None only where the variables are set"
    return found


def status_endpoint(outputs: Mapping[str, Any] | None, env: Mapping[str, str]) -> Endpoint:
    """node-api's base URL from the outputs (the headers go per model), or the endpoint of the variables."""
    if outputs is None:
        return _of_variables(env)
    if not outputs.get("endpointUrl"):
        raise OutputsError("the stack outputs lack endpointUrl: run `pulumi up` first")
    return Endpoint(url=str(outputs["endpointUrl"]).rstrip("/"), headers={}, model="",
                    project_id=outputs.get("projectId"))
