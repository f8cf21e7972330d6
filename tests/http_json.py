"""The one way the fake servers answer (JSON, or plain text for /metrics), and the error they answer with."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any


class PlainText(str):
    """A body sent as written, as text/plain: vLLM's Prometheus /metrics."""


def send_json(handler: BaseHTTPRequestHandler, status: int, body: Any,
              headers: Mapping[str, str] | None = None) -> None:
    plain = isinstance(body, PlainText)
    data = body.encode() if plain else json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "text/plain; version=0.0.4" if plain else "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


class ApiFailure(Exception):
    """Raised by a fake cloud handler: answered as `{code, message, details}` with this HTTP status."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
