"""The OpenAI-compatible HTTP calls the tools make, on the standard library alone.

A stream is read as server-sent events, timing the first content token with the caller's clock,
so tests and benchmarks can run on a virtual one.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

Clock = Callable[[], float]


@dataclass(frozen=True)
class Target:
    """The OpenAI base URL (ending in /v1) and every header a request needs, token included."""

    base_url: str
    headers: Mapping[str, str] = field(repr=False)
    timeout: float = 120.0
    # A read that waits this long for a byte ends the request as stalled (a server stopped mid-stream
    # can leave the connection open).
    stall_seconds: float = 30.0


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    text: str


@dataclass(frozen=True)
class StreamRecord:
    """One streamed chat completion as the client saw it: when each chunk with content arrived."""

    started: float
    content_times: tuple[float, ...]
    finished: float
    output_tokens: int
    status: int | None
    error: str | None = None

    @property
    def first_token(self) -> float | None:
        return self.content_times[0] if self.content_times else None


class Unreachable(Exception):
    """No HTTP answer at all: refused, reset, timed out."""


def _connect(target: Target, path: str) -> tuple[http.client.HTTPConnection, str]:
    url = urlsplit(target.base_url + path)
    kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    timeout = min(target.timeout, target.stall_seconds)
    return kind(url.netloc, timeout=timeout), url.path + (f"?{url.query}" if url.query else "")


def _headers(target: Target) -> dict[str, str]:
    return {"Content-Type": "application/json", "Accept": "application/json", **target.headers}


def request(target: Target, method: str, path: str, body: Any | None = None) -> Answer:
    connection, full_path = _connect(target, path)
    try:
        connection.request(method, full_path, body=None if body is None else json.dumps(body),
                           headers=_headers(target))
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as error:
        raise Unreachable(f"{type(error).__name__}: {error}") from None
    finally:
        connection.close()
    return Answer(response.status, _json_or_none(text), text)


def describe(answer: Answer) -> str:
    """`HTTP 503 model is loading`: the status and the server's own words, short."""
    body = answer.body if isinstance(answer.body, dict) else {}
    error = body.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    detail = error or body.get("message") or answer.text
    return f"HTTP {answer.status} {' '.join(str(detail or '').split())[:100]}".strip()


def _content_of(chunk: Mapping[str, Any]) -> str:
    return "".join((choice.get("delta") or {}).get("content") or "" for choice in chunk.get("choices") or [])


def stream_chat(target: Target, payload: Mapping[str, Any], clock: Clock) -> StreamRecord:
    """POST a streaming chat completion and time it; failures are recorded, not raised."""
    body = {**payload, "stream": True, "stream_options": {"include_usage": True}}
    started = clock()
    times: list[float] = []
    usage_tokens = None
    status = None
    finished_choice = False

    def record(error: str | None = None, tokens: int | None = None) -> StreamRecord:
        return StreamRecord(started, tuple(times), clock(), len(times) if tokens is None else tokens, status,
                            error)

    connection, full_path = _connect(target, "/chat/completions")
    try:
        connection.request("POST", full_path, body=json.dumps(body),
                           headers=_headers(target) | {"Accept": "text/event-stream"})
        response = connection.getresponse()
        status = response.status
        if status != 200:
            text = response.read().decode("utf-8", "replace")
            return record(describe(Answer(status, _json_or_none(text), text)), tokens=0)
        for raw in response:
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data:"):
                continue
            now = clock()  # once an event, when it arrives
            if now - started > target.timeout:
                return record(f"took longer than {target.timeout:g} s")
            data = line.removeprefix("data:").strip()
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            usage_tokens = (chunk.get("usage") or {}).get("completion_tokens", usage_tokens)
            finished_choice |= any(c.get("finish_reason") for c in chunk.get("choices") or [])
            if _content_of(chunk):
                times.append(now)
        else:
            # Without [DONE] a stream is whole once a choice has finished (the OpenAI SDK accepts it).
            if not finished_choice:
                return record("the stream ended before [DONE]")
    except TimeoutError:
        return record(f"stalled: no byte for {target.stall_seconds:g} s")
    except (OSError, http.client.HTTPException, json.JSONDecodeError) as error:
        return record(f"{type(error).__name__}: {error}")
    finally:
        connection.close()
    # vLLM reports the count when asked (stream_options.include_usage); else one token per chunk.
    return record(tokens=usage_tokens)


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None
