"""An OpenAI-compatible server on 127.0.0.1 that plays a vLLM node behind node-api.

It checks what node-api checks (a bearer token, `x-node-alias`, `x-folder-id`), answers 503
while "warming up", streams server-sent events like vLLM (a role chunk, one chunk per token, a
finish chunk, a usage chunk when asked, `[DONE]`) and can fail on request. Time is virtual: it
never sleeps, it advances `clock` by the time to first token and the gap between tokens, so a
client timing with the same clock sees exactly the injected figures.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.http_json import send_json

GOOD_TOKEN = "t1.client-token-5a7c"
NO_ROLE_TOKEN = "t1.no-role-token-8b2e"
ALIAS = "datasphere.user.vllm-dev"
FOLDER = "b1gfolder00000000000"
MODEL = "qwen2.5-7b-instruct"


class VirtualClock:
    """Seconds that pass only when told; counts its readings so a server can wait for one."""

    def __init__(self) -> None:
        self._now = 1000.0
        self.readings = 0
        self._changed = threading.Condition()

    def __call__(self) -> float:
        with self._changed:
            self.readings += 1
            self._changed.notify_all()
            return self._now

    def advance(self, seconds: float) -> None:
        with self._changed:
            self._now += seconds

    def wait_for_reading(self, after: int, timeout: float = 5.0) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self.readings > after, timeout)


@dataclass
class FakeOpenAI:
    clock: VirtualClock = field(default_factory=VirtualClock)
    warmup_answers: int = 0
    ttft: float = 0.25
    inter_token: float = 0.05
    output_tokens: int = 20
    fail_every: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    # Each chat request waits (for real, briefly) until this many are in flight: proves concurrency.
    gather: int = 0
    # Hold the stream after each event until the client has read the clock for it, so that its
    # timings are exact (without it, later tokens may advance the clock first: a burst to the client).
    lockstep: bool = False
    # Servers that ignore stream_options send no usage chunk; a dying one stops mid-stream.
    report_usage: bool = True
    cut_after_tokens: int = 0
    # As real servers do: vLLM can send only empty content (e.g. max_tokens 1), and some servers
    # (transformers serve) end a finished stream without `data: [DONE]`.
    empty_content: bool = False
    send_done: bool = True
    # After this many tokens the stream goes silent, the connection left open, as a server stopped
    # mid-stream can leave it.
    stall_after_tokens: int = 0
    models: tuple[str, ...] = (MODEL,)
    # Request fields answered with 400, as a server that is not vLLM answers `ignore_eos`.
    refused_fields: tuple[str, ...] = ()
    # A stream recorded from a real vLLM (tests/fixtures/vllm-0.32.0/*.sse), sent as it is.
    transcript: str | None = None
    # A busy server, or a proxy that buffers (node-api may), hands over a whole stream at once.
    burst: bool = False

    def __post_init__(self) -> None:
        self.released = threading.Event()
        self.lock = threading.Condition()
        self.server: ThreadingHTTPServer | None = None
        self.chats = 0

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def refusal(self, headers: dict[str, str]) -> tuple[int, dict[str, Any]] | None:
        token = headers.get("authorization", "").removeprefix("Bearer ")
        if token not in (GOOD_TOKEN, NO_ROLE_TOKEN):
            return 401, {"code": 16, "message": "the request is not authenticated"}
        if token == NO_ROLE_TOKEN:
            return 403, {"code": 7, "message": "permission denied"}
        if headers.get("x-node-alias") != ALIAS or headers.get("x-folder-id") != FOLDER:
            return 404, {"code": 5, "message": "alias not found in this folder"}
        with self.lock:
            if self.warmup_answers > 0:
                self.warmup_answers -= 1
                return 503, {"message": "model is loading"}
        return None

    def should_fail(self) -> bool:
        with self.lock:
            self.chats += 1
            return bool(self.fail_every) and self.chats % self.fail_every == 0

    def enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.lock.notify_all()
            self.lock.wait_for(lambda: self.in_flight >= self.gather, timeout=5)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    """A chunk framed as vLLM frames it (tests/fixtures/vllm-0.32.0/)."""
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAI

    def log_message(self, *_: Any) -> None:
        return

    def _headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    def _json(self, status: int, body: dict[str, Any]) -> None:
        send_json(self, status, body)

    def do_GET(self) -> None:
        headers = self._headers()
        self.fake.requests.append({"method": "GET", "path": self.path, "headers": headers})
        refused = self.fake.refusal(headers)
        if refused:
            self._json(*refused)
        elif self.path == "/v1/models":
            models = [{"id": model, "object": "model", "owned_by": "vllm", "root": model, "parent": None,
                       "max_model_len": 32768} for model in self.fake.models]
            self._json(200, {"object": "list", "data": models})
        else:
            self._json(404, {"message": "not found"})

    def do_POST(self) -> None:
        headers = self._headers()
        body = json.loads(self.rfile.read(int(headers.get("content-length") or 0)) or b"{}")
        self.fake.requests.append({"method": "POST", "path": self.path, "headers": headers, "body": body})
        refused = self.fake.refusal(headers)
        if refused:
            self._json(*refused)
            return
        if self.path != "/v1/chat/completions" or body.get("model") != MODEL:
            message = f"The model `{body.get('model')}` does not exist. Valid aliases: {MODEL}."
            self._json(404, {"error": {"message": message, "type": "NotFoundError", "param": "model",
                                       "code": 404}})
            return
        refused_fields = [name for name in self.fake.refused_fields if name in body]
        if refused_fields:
            self._json(400, {"error": {"message": f"unknown field {refused_fields[0]}", "code": 400}})
            return
        if self.fake.transcript is not None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(self.fake.transcript.encode())
            return
        if self.fake.should_fail():
            self._json(500, {"error": {"message": "injected failure"}})
            return
        tokens = min(self.fake.output_tokens, int(body.get("max_tokens") or self.fake.output_tokens))
        if body.get("stream"):
            self._stream(tokens, bool((body.get("stream_options") or {}).get("include_usage")))
        else:
            self.fake.clock.advance(self.fake.ttft + self.fake.inter_token * (tokens - 1))
            self._json(200, {"id": "chatcmpl-fake", "object": "chat.completion", "model": MODEL,
                             "choices": [{"index": 0, "finish_reason": "length", "message": {
                                 "role": "assistant", "content": " ".join(["word"] * tokens)}}],
                             "usage": {"prompt_tokens": 12, "completion_tokens": tokens,
                                       "total_tokens": 12 + tokens}})

    def _stream(self, tokens: int, usage: bool) -> None:
        self.fake.enter()
        left = False
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self._event(_chunk({"role": "assistant", "content": ""}))
            if self.fake.burst:
                self.fake.clock.advance(self.fake.ttft + self.fake.inter_token * (tokens - 1))
            for index in range(tokens):
                if self.fake.cut_after_tokens and index == self.fake.cut_after_tokens:
                    return
                if self.fake.stall_after_tokens and index == self.fake.stall_after_tokens:
                    self.fake.released.wait(timeout=10)
                    return
                if not self.fake.burst:
                    self.fake.clock.advance(self.fake.ttft if index == 0 else self.fake.inter_token)
                text = "" if self.fake.empty_content else " word" if index else "word"
                # As vLLM does, the last token's chunk carries the finish reason.
                self._event(_chunk({"content": text}, finish="length" if index == tokens - 1 else None))
            if usage and self.fake.report_usage:
                self._event({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": MODEL,
                             "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": tokens,
                                                      "total_tokens": 12 + tokens}})
            if self.fake.send_done:
                # The client may send its next request as soon as it reads [DONE]: this one is out of
                # flight before then, or the count would race it (without [DONE] it ends at the close,
                # which comes after `leave`).
                self.fake.leave()
                left = True
                self.wfile.write(b"data: [DONE]\n\n")
        finally:
            if not left:
                self.fake.leave()

    def _event(self, data: dict[str, Any]) -> None:
        readings = self.fake.clock.readings
        self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()
        if self.fake.lockstep:  # the client reads the clock once an event: wait for that reading
            self.fake.clock.wait_for_reading(readings)


@contextmanager
def fake_openai(**settings: Any) -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI(**settings)
    handler = type("Handler", (_Handler,), {"fake": fake})
    fake.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=fake.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.released.set()
        fake.server.shutdown()
        fake.server.server_close()
