"""What every dynamic provider of the stack shares: configuration, a lazy client, diffs, checks.

Providers are pickled by reference into the `__provider` input and rebuilt in the engine's
provider host. So they hold no state at pickling time: credentials and endpoints are read in
`configure` (stack config, secrets unwrapped, then the environment) and the client is made on
first use. Keep the concrete provider classes where they are: a stack's state names them by
module path, and the engine unpickles the old ones to delete what an update leaves behind.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar, Generic, TypeVar

import pulumi
from pulumi.dynamic import CheckFailure, ConfigureRequest, DiffResult, ResourceProvider

from components.cloud.credentials import token_source
from components.cloud.endpoints import endpoints_from, timing_from
from components.cloud.http import ApiClient, ApiError

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's placeholder for unknown values

ClientT = TypeVar("ClientT", bound=ApiClient)


def is_known(value: Any) -> bool:
    return value != UNKNOWN


def client_from(client_class: type[ClientT], config: Any) -> ClientT:
    """A client of one API with the stack's endpoints, timing and credentials (config, then environment)."""
    config = config if config is not None else {}
    endpoints = endpoints_from(config)
    timing = timing_from(config)
    source = token_source(lambda key: config.get(key), os.environ, endpoints, timing)
    return client_class(endpoints, source, timing)


def program_client(client_class: type[ClientT]) -> ClientT:
    """A client for the program itself (the preview's checks), with the config a provider would get."""
    return client_from(client_class, SimpleNamespace(get=pulumi.runtime.get_config))


@dataclass(frozen=True)
class Inputs:
    """Every input of a provider, by what a change to it does. An input in none of the three would be
    forgotten by the diff: tests/test_provider_inputs.py refuses that."""

    in_place: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    # Inputs a change of which needs no call, each on purpose: a placeholder for an output, a value only
    # checked, a secret compared through its hash.
    ignored: tuple[str, ...] = ()

    def diff(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> DiffResult:
        return diff_props(olds, news, in_place=self.in_place, replace=self.replace)


class CloudProvider(ResourceProvider, Generic[ClientT]):
    """Base of the stack's providers; `client_class` names the API a subclass speaks, `inputs` what a
    change of each input does."""

    client_class: ClassVar[type[ApiClient]]
    inputs: ClassVar[Inputs]
    # The inputs' names and types (a TypedDict): exactly the names `inputs` sorts.
    props_type: ClassVar[type]
    # One lock for every provider: the engine calls them from several threads at once, and they
    # must share one client (and so one token) each.
    _client_lock: ClassVar[threading.Lock] = threading.Lock()
    _config: Any = None
    _client: Any = None

    def configure(self, req: ConfigureRequest) -> None:
        self._config = req.config
        self._client = None

    @property
    def client(self) -> ClientT:
        with self._client_lock:
            if self._client is None:
                self._client = client_from(self.client_class, self._config)
            return self._client

    def __getstate__(self) -> dict[str, Any]:
        # Never pickle a configured client or the config it was built from.
        return {}


def delete_after_failure(kind: str, ident: str | None, delete: Callable[[str], None]) -> str:
    """Delete what a failed create had started, and say what became of it, for the error message."""
    if not ident:
        return "Nothing was left behind."
    try:
        delete(ident)
    except ApiError as error:
        return f"Deleting it failed too ({error.code_name}): delete {kind} {ident} in the console."
    return f"The {kind} was deleted."


def diff_props(olds: Mapping[str, Any], news: Mapping[str, Any], in_place: Iterable[str],
               replace: Iterable[str]) -> DiffResult:
    """Changed keys: any in `replace` replaces (create before delete), the rest update in place."""
    keys = [*replace, *in_place]
    changed = [k for k in keys if olds.get(k) != news.get(k)]
    replaces = [k for k in changed if k in set(replace)]
    return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)


def require_text(news: Mapping[str, Any], keys: Iterable[str]) -> list[CheckFailure]:
    return [CheckFailure(key, f"{key} must be a non-empty string, got {news.get(key)!r}")
            for key in keys
            if is_known(news.get(key)) and not (isinstance(news.get(key), str) and news.get(key))]


def whole_number(value: Any) -> int | None:
    """Numbers cross the engine's protobuf boundary as floats: 3.0 is the whole number 3."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer():
        return None
    return int(value)
