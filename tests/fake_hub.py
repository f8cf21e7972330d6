"""A Hugging Face Hub on 127.0.0.1 that answers the two requests the preflight makes.

It serves the recorded fixtures in `tests/fixtures/hub-cache/models/` and answers like the Hub:
gated files need a token of an account with access (401 without one, 403 with the wrong one,
`X-Error-Code: GatedRepo`), unknown repositories get 401 `RepoNotFound`, a bad token gets 401
"Invalid credentials in Authorization header". `outage` makes every answer a 503.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.http_json import send_json

FIXTURES = Path(__file__).parent / "fixtures" / "hub-cache" / "models"
GRANTED_TOKEN = "hf_granted_0123456789abcdef0123456789"
UNGRANTED_TOKEN = "hf_ungranted_0123456789abcdef012345"


def fixture(model: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{model.replace('/', '--')}.json").read_text())


@dataclass
class HubState:
    models: dict[str, dict[str, Any]]
    outage: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    state: HubState

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        auth = self.headers.get("Authorization")
        self.state.requests.append((path, auth))
        if self.state.outage:
            self._answer(503, {"error": "Service Unavailable"})
            return
        token = auth.removeprefix("Bearer ") if auth else None
        if token not in (None, GRANTED_TOKEN, UNGRANTED_TOKEN):
            self._answer(401, {"error": "Invalid credentials in Authorization header"},
                         {"X-Error-Message": "Invalid credentials in Authorization header"})
            return
        if path.startswith("/api/models/"):
            self._model_info(path.removeprefix("/api/models/"))
        elif "/resolve/" in path:
            model, _, rest = path.lstrip("/").partition("/resolve/")
            self._config(model, rest.partition("/")[2], token)
        else:
            self._answer(404, {"error": "not found"})

    def _model_info(self, model: str) -> None:
        record = self.state.models.get(model)
        if record is None:
            self._not_found()
            return
        self._answer(200, {"id": model, "sha": record["sha"], "gated": record["gated"],
                           "safetensors": record["safetensors"]})

    def _config(self, model: str, filename: str, token: str | None) -> None:
        record = self.state.models.get(model)
        if record is None:
            self._not_found()
        elif record["gated"] and token != GRANTED_TOKEN:
            message = f"Access to model {model} is restricted."
            self._answer(403 if token else 401, {"error": message},
                         {"X-Error-Code": "GatedRepo", "X-Error-Message": message})
        elif filename != "config.json" or record["config"] is None:
            self._answer(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
        else:
            self._answer(200, record["config"])

    def _not_found(self) -> None:
        self._answer(401, {"error": "Repository not found"},
                     {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"})

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        send_json(self, status, body, headers)


@contextmanager
def fake_hub(models: list[str]) -> Iterator[tuple[str, HubState]]:
    """Serve these fixture models; yields the base URL and the state to inspect or change."""
    state = HubState(models={model: fixture(model) for model in models})
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
