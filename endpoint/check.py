"""`check`: wait until the endpoint serves, list its models, time one chat completion."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from endpoint.auth import refusal
from endpoint.openai_http import Answer, Clock, Target, Unreachable, describe, request
from endpoint.outputs import Endpoint


class NotServing(Exception):
    """The endpoint did not serve in time, or a request failed; the message has the last answer."""


@dataclass(frozen=True)
class CheckResult:
    waited_seconds: float
    models: list[str]
    latency_seconds: float
    output_tokens: int | None
    reply: str


def elapsed_text(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}:{rest:02d}"


def _models(answer: Answer) -> list[str]:
    data = answer.body.get("data") if isinstance(answer.body, dict) else None
    return [str(m.get("id")) for m in data or [] if isinstance(m, dict)]


def _raise_for_auth(status: int | None, endpoint: Endpoint) -> None:
    error = refusal(status, endpoint.project_id)
    if error is not None:
        raise error


# What a node answers while it is not ready: node-api's gateway errors while the image is pulled and the
# model loads (vLLM keeps its port closed until then). Anything else cannot turn into a served model.
LOADING_STATUS = frozenset({502, 503, 504})


def _cannot_be_loading(answer: Answer, target: Target, endpoint: Endpoint, models: list[str]) -> str | None:
    """Why this answer is final (no wait will help), or None while the node may still be loading."""
    if answer.status == 200:
        served = ", ".join(models) or "no model"
        return (f"{target.base_url}/models answers, but without {endpoint.model}: it serves {served}. "
                "Fix: send one of those names as the model (VLLM_MODEL, or the stack's servedModelName)")
    if answer.status == 404 and not target.base_url.rstrip("/").endswith("/v1"):
        return (f"{target.base_url}/models is not found (HTTP 404): the base URL must end in /v1, as the "
                "stack output endpointUrl does")
    if answer.status in LOADING_STATUS:
        return None
    return f"{target.base_url}/models answers {describe(answer)}, which no loading node answers"


def wait_until_serving(target: Target, endpoint: Endpoint, wait_seconds: float, interval: float,
                       clock: Clock, sleep: Callable[[float], None], out: TextIO) -> tuple[float, list[str]]:
    """Poll `GET /models` until it lists the model. Only refused connections, timeouts and 502/503/504 mean
    wait; any other answer fails at once with what it says."""
    start = clock()
    last = "no answer yet"
    tty = out.isatty()
    while True:
        try:
            answer = request(target, "GET", "/models")
        except Unreachable as error:
            last = str(error)
        else:
            _raise_for_auth(answer.status, endpoint)
            models = _models(answer) if answer.status == 200 else []
            if endpoint.model in models:
                if tty:
                    out.write("\n")
                return clock() - start, models
            final = _cannot_be_loading(answer, target, endpoint, models)
            if final is not None:
                if tty and last != "no answer yet":
                    out.write("\n")
                raise NotServing(final)
            last = describe(answer)
        elapsed = clock() - start
        line = f"waiting for {endpoint.model}: {elapsed_text(elapsed)} elapsed, last answer: {last}"
        out.write(f"\r{line}\x1b[K" if tty else f"{line}\n")
        out.flush()
        if elapsed >= wait_seconds:
            if tty:
                out.write("\n")
            raise NotServing(f"{endpoint.model} is not served after {elapsed_text(elapsed)}; the last "
                             f"answer was {last}. A node can take tens of minutes to pull the image and "
                             "load the weights: wait longer with --wait-minutes, or see the node's logs "
                             "in the DataSphere console")
        sleep(interval)


def chat_payload(model: str, prompt: str, max_tokens: int) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens}


def run_check(target: Target, endpoint: Endpoint, *, wait_seconds: float, interval: float, prompt: str,
              max_tokens: int, clock: Clock, sleep: Callable[[float], None], out: TextIO) -> CheckResult:
    waited, models = wait_until_serving(target, endpoint, wait_seconds, interval, clock, sleep, out)
    out.write(f"serving after {elapsed_text(waited)}; models: {', '.join(models)}\n")
    payload = chat_payload(endpoint.model, prompt, max_tokens)
    started = clock()
    try:
        answer = request(target, "POST", "/chat/completions", payload)
    except Unreachable as error:
        raise NotServing(f"the chat completion got no answer: {error}") from None
    latency = clock() - started
    _raise_for_auth(answer.status, endpoint)
    if answer.status != 200 or not isinstance(answer.body, dict):
        raise NotServing(f"the chat completion failed: {describe(answer)}")
    reply = str(((answer.body.get("choices") or [{}])[0].get("message") or {}).get("content") or "")
    tokens = (answer.body.get("usage") or {}).get("completion_tokens")
    out.write(f"chat completion in {latency:.2f} s ({tokens if tokens is not None else '?'} tokens): "
              f"{' '.join(reply.split())[:120]}\n")
    return CheckResult(waited, models, latency, tokens, reply)
