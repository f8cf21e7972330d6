"""A Hugging Face Hub on 127.0.0.1 that answers what the preflight and the image's weights download ask.

It serves the recorded fixtures in `tests/fixtures/hub-cache/models/` and answers like the Hub: the
model's API entry (`/api/models/<id>`, or at a commit: `/api/models/<id>/revision/<sha>`, with its
commit, gated flag, safetensors counts and file list) and its files (`/<id>/resolve/<sha>/<file>`,
HEAD and GET, with the commit and ETag headers `huggingface_hub` downloads by). Gated files need a
token of an account with access (401 without one, 403 with the wrong one, `X-Error-Code: GatedRepo`),
unknown repositories get 401 `RepoNotFound`, an unknown commit 404 `RevisionNotFound`, a bad token
401 "Invalid credentials in Authorization header". `outage` makes every answer a 503, and
`new_commit` moves a model's main branch on.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from components.model_facts import facts_from_hub
from tests.http_json import send_json

FIXTURES = Path(__file__).parent / "fixtures" / "hub-cache" / "models"
GRANTED_TOKEN = "hf_granted_0123456789abcdef0123456789"
UNGRANTED_TOKEN = "hf_ungranted_0123456789abcdef012345"


def fixture(model: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{model.replace('/', '--')}.json").read_text())


def recorded_weights_bytes(model: str) -> float:
    """The stored size of a recorded model's safetensors weights."""
    record = fixture(model)
    stored = facts_from_hub(model, record["safetensors"], record["config"]).stored_bytes
    assert stored is not None, f"the recording of {model} has its safetensors sizes"
    return float(stored)


@dataclass
class HubState:
    models: dict[str, dict[str, Any]]
    # Each model's files besides config.json, by path in the repository.
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)
    outage: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    # Commits the main branch has left behind, by model: still there to be asked for.
    history: dict[str, list[str]] = field(default_factory=dict)

    def new_commit(self, model: str) -> str:
        """The model's main branch moves to a new commit (same files); its id."""
        record = self.models[model]
        self.history.setdefault(model, []).append(record["sha"])
        record["sha"] = hashlib.sha1(f"{record['sha']}+1".encode()).hexdigest()
        return record["sha"]


class _Handler(BaseHTTPRequestHandler):
    state: HubState

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
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
        if path.startswith("/api/models/") and "/tree/" in path:
            model, _, revision = path.removeprefix("/api/models/").partition("/tree/")
            self._tree(model, revision.partition("/")[0])
        elif path.startswith("/api/models/"):
            model, _, revision = path.removeprefix("/api/models/").partition("/revision/")
            self._model_info(model, revision or "main")
        elif "/resolve/" in path:
            model, _, rest = path.lstrip("/").partition("/resolve/")
            revision, _, filename = rest.partition("/")
            self._file(model, revision, filename, token, head)
        else:
            self._answer(404, {"error": "not found"})

    def _commit(self, model: str, revision: str) -> str | None:
        """The commit `revision` names, or None after answering why there is none."""
        record = self.state.models.get(model)
        if record is None:
            self._not_found()
            return None
        if revision in self.state.history.get(model, []):
            return revision
        if revision not in ("main", record["sha"]):
            message = f"Invalid rev id: {revision}"
            self._answer(404, {"error": message},
                         {"X-Error-Code": "RevisionNotFound", "X-Error-Message": message})
            return None
        return record["sha"]

    def _model_info(self, model: str, revision: str) -> None:
        commit = self._commit(model, revision)
        if commit is None:
            return
        record = self.state.models[model]
        self._answer(200, {"id": model, "sha": commit, "gated": record["gated"],
                           "safetensors": record["safetensors"],
                           "siblings": [{"rfilename": name} for name in self._contents(model)]})

    def _contents(self, model: str) -> dict[str, bytes]:
        record = self.state.models[model]
        files = dict(self.state.files.get(model, {}))
        if record["config"] is not None:
            files = {"config.json": json.dumps(record["config"]).encode(), **files}
        return files

    def _tree(self, model: str, revision: str) -> None:
        """Every file of the repository at the commit (what a snapshot download lists first)."""
        if self._commit(model, revision) is None:
            return
        self._answer(200, [{"type": "file", "path": name, "size": len(content),
                            "oid": hashlib.sha1(content).hexdigest()}
                           for name, content in self._contents(model).items()])

    def _file(self, model: str, revision: str, filename: str, token: str | None, head: bool) -> None:
        commit = self._commit(model, revision)
        if commit is None:
            return
        record = self.state.models[model]
        if record["gated"] and token != GRANTED_TOKEN:
            message = f"Access to model {model} is restricted."
            self._answer(403 if token else 401, {"error": message},
                         {"X-Error-Code": "GatedRepo", "X-Error-Message": message})
            return
        content = self._contents(model).get(filename)
        if content is None:
            self._answer(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(content)))
        self.send_header("ETag", f'"{hashlib.sha256(content).hexdigest()}"')
        self.send_header("X-Repo-Commit", commit)
        self.end_headers()
        if not head:
            self.wfile.write(content)

    def _not_found(self) -> None:
        self._answer(401, {"error": "Repository not found"},
                     {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"})

    def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        send_json(self, status, body, headers)


@contextmanager
def fake_hub(models: list[str], files: dict[str, dict[str, bytes]] | None = None,
             records: dict[str, dict[str, Any]] | None = None) -> Iterator[tuple[str, HubState]]:
    """Serve these fixture models, and models of `records` (as a fixture has them: config, gated,
    safetensors, sha), with `files` of theirs; yields the base URL and the state."""
    state = HubState(models={model: fixture(model) for model in models} | (records or {}), files=files or {})
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
