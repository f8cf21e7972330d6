"""Reads a model's facts and its current commit from the Hugging Face Hub, and keeps them on disk.

The facts (safetensors parameter counts, `config.json`, whether the model is gated) are those of one
commit, and a commit's files never change: they are cached under `VLLM_DATASPHERE_CACHE` (default
`~/.cache/vllm-datasphere`) with the commit they belong to. A pinned `modelRevision` that the cache
holds costs no request. An unpinned model asks the Hub for its current commit (one request; the
config too when the commit is new), so a new commit on the Hub is a new image; offline or with the
Hub out of reach, the cached commit stands in. When the Hub cannot be reached, the caller gets the
facts it has and the reason, and falls back; when the Hub answers that the model is gated, missing,
has no such commit or the token is wrong, that is the user's to fix and raises `HubAccessError`.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx2
from huggingface_hub import HfApi
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

from components.model_facts import ModelFacts, facts_from_hub

DEFAULT_ENDPOINT = "https://huggingface.co"
CACHE_FORMAT = 2  # 2: the record is of the commit `sha`, and says whether the model is gated
# Shown instead of the token wherever an error names the huggingFaceToken value.
REDACTED = "[hidden]"


@dataclass(frozen=True)
class HubAccess:
    endpoint: str
    cache_dir: Path
    offline: bool = False
    token: str | None = field(default=None, repr=False)
    timeout_seconds: float = 10.0

    @classmethod
    def from_environment(cls, token: str | None) -> HubAccess:
        """The Hub's own variables (`HF_ENDPOINT`, `HF_HUB_OFFLINE`) and our cache folder."""
        cache = os.environ.get("VLLM_DATASPHERE_CACHE") or str(
            Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vllm-datasphere")
        offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
        endpoint = (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        return cls(endpoint=endpoint, cache_dir=Path(cache), offline=offline, token=token or None)


class HubAccessError(Exception):
    """The Hub refused the model: the config key to change and how. `gated`: for want of access."""

    def __init__(self, key: str, value: str | None, message: str, gated: bool = False) -> None:
        self.key = key
        self.value = value
        self.gated = gated
        super().__init__(message)


@dataclass(frozen=True)
class LoadedFacts:
    facts: ModelFacts
    origin: str
    unavailable_reason: str | None = None
    # The commit the facts are of, pinned or resolved; None when neither the Hub nor the cache knew it.
    revision: str | None = None
    gated: bool = False
    # Why config.json could not be read though the Hub answered for the model: it is gated and the token
    # (if any) has no access. The rest of the facts stand, so every other check still runs.
    config_denied: HubAccessError | None = None


def cache_path(cache_dir: Path, model: str) -> Path:
    return cache_dir / "models" / f"{model.replace('/', '--')}.json"


def load_model_facts(model: str, access: HubAccess, revision: str | None = None) -> LoadedFacts:
    """Facts of the commit `revision` (default: the current one) from the cache or the Hub (then
    cached), else what the cache has, with the reason."""
    path = cache_path(access.cache_dir, model)
    cached = _read_cache(path)
    if cached is not None and revision is not None and cached.get("sha") == revision:
        return _loaded(model, cached, "cache")
    if access.offline:
        return _without_hub(model, cached, revision, "HF_HUB_OFFLINE is set")
    try:
        record = _fetch(model, access, revision, cached)
    except (httpx2.TransportError, OfflineModeIsEnabled) as error:
        reason = f"cannot reach {access.endpoint} ({type(error).__name__})"
        return _without_hub(model, cached, revision, reason)
    # `from None`: the Hub's exception holds the request, and with it the Authorization header.
    except GatedRepoError:
        raise _gated(model, access) from None
    except RevisionNotFoundError:
        raise _no_revision(model, revision) from None
    except RepositoryNotFoundError:
        raise _not_found(model, access) from None
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else None
        if status == 401 and access.token:
            raise HubAccessError("huggingFaceToken", REDACTED, (
                "Hugging Face rejected this token. Fix: create a read token at "
                "https://huggingface.co/settings/tokens and pulumi config set --secret "
                "huggingFaceToken <token>")) from None
        return _without_hub(model, cached, revision, f"{access.endpoint} answered HTTP {status}")
    if record.pop("configDenied", False):
        # Not cached: once a token with access is set, the config is read.
        return replace(_loaded(model, record, "hub"), config_denied=_gated(model, access))
    if record is not cached:
        _write_cache(path, record)
    return _loaded(model, record, "hub")


def _loaded(model: str, record: dict[str, Any], origin: str) -> LoadedFacts:
    return LoadedFacts(facts_from_hub(model, record.get("safetensors"), record.get("config")), origin,
                       revision=record.get("sha"), gated=bool(record.get("gated")))


def _without_hub(model: str, cached: dict[str, Any] | None, revision: str | None, reason: str) -> LoadedFacts:
    """What is known without the Hub: the cached record (its commit stands in for an unpinned one)."""
    if cached is None:
        return LoadedFacts(ModelFacts(model), "none", reason, revision=revision)
    loaded = _loaded(model, cached, "cache")
    return LoadedFacts(loaded.facts, "cache", reason, revision=revision or loaded.revision,
                       gated=loaded.gated)


def _fetch(model: str, access: HubAccess, revision: str | None,
           cached: dict[str, Any] | None) -> dict[str, Any]:
    """The record of `revision` (or the current commit); `cached` when it is of that commit already."""
    token: str | bool = access.token or False
    api = HfApi(endpoint=access.endpoint, token=token, library_name="vllm-datasphere")
    info = api.model_info(model, revision=revision, expand=["safetensors", "sha", "gated"],
                          timeout=access.timeout_seconds)
    if cached is not None and info.sha and cached.get("sha") == info.sha:
        return cached
    response = get_session().get(
        f"{access.endpoint}/{model}/resolve/{info.sha or revision or 'main'}/config.json",
        headers=build_hf_headers(token=token, library_name="vllm-datasphere"),
        timeout=access.timeout_seconds,
        follow_redirects=True,
    )
    denied = False
    try:
        hf_raise_for_status(response)
        config = response.json()
    except RemoteEntryNotFoundError:
        config = None
    except GatedRepoError:
        config, denied = None, True
    safetensors = info.safetensors
    return {
        "configDenied": denied,
        "format": CACHE_FORMAT,
        "model": model,
        "sha": info.sha,
        "gated": bool(info.gated),
        "safetensors": {"parameters": dict(safetensors.parameters), "total": safetensors.total}
        if safetensors else None,
        "config": config,
    }


def _read_cache(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format") == CACHE_FORMAT else None


def _write_cache(path: Path, record: dict[str, Any]) -> None:
    """Atomically, so an interrupted preview never leaves half a file to be trusted later."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as handle:
        json.dump(record, handle, indent=1, sort_keys=True)
    Path(handle.name).replace(path)


def _gated(model: str, access: HubAccess) -> HubAccessError:
    page = f"{DEFAULT_ENDPOINT}/{model}"
    if access.token:
        return HubAccessError("huggingFaceToken", REDACTED, (
            f"this token has no access to the gated model {model}. Fix: accept its license at "
            f"{page} with the token's account, or set a token of an account that has"), gated=True)
    return HubAccessError("huggingFaceToken", None, (
        f"{model} is gated on Hugging Face: its config (and, at the image build, its weights) can only "
        f"be read with a token of an account that accepted its license. Fix: accept it at {page}, "
        "then pulumi config set --secret huggingFaceToken <read token>"), gated=True)


def _no_revision(model: str, revision: str | None) -> HubAccessError:
    return HubAccessError("modelRevision", revision, (
        f"Hugging Face has no commit {revision} of {model}. Fix: pulumi config set modelRevision <commit "
        f"from {DEFAULT_ENDPOINT}/{model}/commits/main>, or pulumi config rm modelRevision to serve the "
        "current commit"))


def _not_found(model: str, access: HubAccess) -> HubAccessError:
    hint = ("or this token cannot see it" if access.token
            else "or it is private: pulumi config set --secret huggingFaceToken <read token>")
    return HubAccessError("model", model, f"Hugging Face has no model {model} ({hint}). "
                          "Fix: copy the id from the model's page, e.g. Qwen/Qwen2.5-7B-Instruct")
