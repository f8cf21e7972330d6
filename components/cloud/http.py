"""The one HTTP client every Yandex Cloud API module of the stack speaks through.

It sends JSON with the caller's IAM token over connections kept open between calls (one pool a
process, as the platform's SDKs keep one channel), retries what is worth retrying, polls long-running
operations at the Operation API and turns failures into `ApiError`s that name the resource and suggest
a fix, never a token or secret. The conventions are those of the published Yandex Cloud REST APIs
(docs/datasphere-api.md).

The retry budget, in one place: 429, 500, 502, 503 and 504 and lost connections are retried with capped
exponential backoff and jitter (`Timing.backoff`), at least as long as a `Retry-After` header asks, until
`Timing.retry_deadline` (120 s) has passed; a POST without an idempotency key only when the server
cannot have acted on it (429, 503, a connection never made). Nothing else is retried.
"""

from __future__ import annotations

import json
import random
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx2

# gRPC status codes as the Yandex Cloud APIs report them.
GRPC_CODE_NAMES = {
    1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
    6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
    10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
    15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}
HINTS = {
    3: "a value was refused: check the stack config named in the message",
    5: "it was deleted outside Pulumi: run `pulumi refresh`",
    6: "a resource of that name exists already: pick another name or `pulumi import` it",
    7: "the deployer lacks a role on the resource or its folder (README, Prerequisites)",
    8: "a quota or a spend limit is exhausted: raise it or use a smaller configuration",
    9: "the resource is in a state that does not allow this yet: retry, or check the console",
    16: "the token is missing or expired: set YC_TOKEN or yandex:serviceAccountKeyFile",
}
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# Statuses that mean the server did not act on the request, so even a POST may be sent again.
NOT_PROCESSED_STATUS = frozenset({429, 503})
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class Endpoints:
    datasphere: str = "https://datasphere.api.cloud.yandex.net"
    operation: str = "https://operation.api.cloud.yandex.net"
    iam: str = "https://iam.api.cloud.yandex.net"
    node_api: str = "https://node-api.datasphere.yandexcloud.net"
    registry: str = "https://registry.api.cloud.yandex.net"


@dataclass(frozen=True)
class Timing:
    """Waits and deadlines; tests and the benchmark inject small intervals and a fake clock."""

    poll_interval: float = 10.0
    retry_deadline: float = 120.0
    request_timeout: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    jitter: Callable[[], float] = random.random

    def backoff(self, attempt: int, base: float) -> float:
        """Capped exponential backoff with full jitter in the upper half."""
        delay = min(self.poll_interval, base * 2 ** attempt)
        return delay * (0.5 + 0.5 * self.jitter())


class ApiError(Exception):
    """A failed call: HTTP status, gRPC code, the resource it was about and what to do."""

    def __init__(self, status: int | None, code: int | None, message: str, resource: str,
                 hints: Mapping[int, str] | None = None) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.resource = resource
        name = GRPC_CODE_NAMES.get(code or 0, "UNKNOWN")
        self.code_name = name
        hint = {**HINTS, **(hints or {})}.get(code or 0, "retry later; if it persists, check the console")
        where = f"HTTP {status}, " if status else ""
        super().__init__(f"{resource}: {name} ({where}code {code}): {message}. Hint: {hint}")

    @property
    def not_found(self) -> bool:
        return self.status == 404 or self.code == 5


class OperationFailed(ApiError):
    """An operation that finished with `error`."""


class NotSent(ConnectionError):
    """The connection was refused: the request never reached the service, so any call may be repeated."""


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: Any
    text: str
    # How long the server asked to be left alone (`Retry-After` in seconds), if it said.
    retry_after: float | None = None


def _decode(raw: bytes) -> tuple[Any, str]:
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text), text
    except json.JSONDecodeError:
        return None, text


_pool: httpx2.Client | None = None
_pool_lock = threading.Lock()
# Who is told of every exchange (`observed`): the method, the URL, and the answer or the failure. Never
# the request's headers or body, so never a token sent.
Observer = Callable[[str, str, "HttpAnswer | None", "str | None"], None]
_observers: list[Observer] = []


@contextmanager
def observed(observer: Observer) -> Iterator[None]:
    """Tell `observer` of every exchange while the block runs (`python -m endpoint doctor` keeps a
    transcript so)."""
    _observers.append(observer)
    try:
        yield
    finally:
        _observers.remove(observer)


def _tell(method: str, url: str, answer: HttpAnswer | None, failure: str | None) -> None:
    for observer in list(_observers):
        observer(method, url, answer, failure)


def _connections() -> httpx2.Client:
    """The process's connection pool: thread-safe, and with the system's certificate store, as before."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = httpx2.Client(verify=ssl.create_default_context(), follow_redirects=False)
        return _pool


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from these APIs, and the backoff still applies


def send(method: str, url: str, headers: Mapping[str, str], body: Any | None,
         timeout: float) -> HttpAnswer:
    """One HTTP exchange; connection failures raise `ConnectionError` (`NotSent` when the connection was
    never made, so the request cannot have reached the service)."""
    data = None if body is None else json.dumps(body).encode()
    try:
        response = _connections().request(method, url, content=data, timeout=timeout,
                                          headers={"Content-Type": "application/json", **headers})
    except (httpx2.ConnectError, httpx2.ConnectTimeout) as error:
        _tell(method, url, None, f"not connected: {error}")
        raise NotSent(f"{method} {url.split('?')[0]}: {error}") from None
    except httpx2.TransportError as error:
        _tell(method, url, None, f"{type(error).__name__}: {error}")
        raise ConnectionError(f"{method} {url.split('?')[0]}: {type(error).__name__}: {error}") from None
    parsed, text = _decode(response.content)
    answer = HttpAnswer(response.status_code, parsed, text, _retry_after(response.headers.get("retry-after")))
    _tell(method, url, answer, None)
    return answer


@dataclass
class ApiClient:
    """Transport shared by the API modules; each subclass adds the calls of one API."""

    endpoints: Endpoints
    token: Callable[[], str]
    timing: Timing = field(default_factory=Timing)
    # Fix hints that say more for this API than the general ones (by gRPC code).
    hints: ClassVar[Mapping[int, str]] = {}

    def call(self, method: str, url: str, resource: str, body: Any | None = None,
             headers: Mapping[str, str] | None = None, *, idempotent: bool = False,
             missing: str | None = None) -> Any:
        """A call with retries for 429/5xx and connection errors, within a deadline.

        A POST is sent again only when the server did not act on it (429, 503, a refused
        connection), unless it is `idempotent`: then it carries one Idempotency-Key on every
        attempt, and the API answers a repeat with the operation the first attempt started.
        `missing` says what a NOT_FOUND means for a call that makes something: not that the stack's
        resource was deleted (the general hint), but that something it refers to does not exist.
        """
        hints = {**self.hints, 5: f"{missing}; nothing was created"} if missing else self.hints
        deadline = self.timing.clock() + self.timing.retry_deadline
        extra = dict(headers or {})
        if idempotent:
            extra[IDEMPOTENCY_HEADER] = str(uuid.uuid4())
        retryable = NOT_PROCESSED_STATUS if method == "POST" and not idempotent else RETRYABLE_STATUS
        attempt = 0
        while True:
            asked: float | None = None
            try:
                answer = send(method, url, {"Authorization": f"Bearer {self.token()}", **extra},
                              body, self.timing.request_timeout)
            except ConnectionError as error:
                if method == "POST" and not idempotent and not isinstance(error, NotSent):
                    raise ApiError(None, 14, f"{error} (not sent again: it may have been carried out)",
                                   resource, hints) from None
                if self.timing.clock() >= deadline:
                    raise ApiError(None, 14, str(error), resource, hints) from None
            else:
                if answer.status < 400:
                    return answer.body
                if answer.status not in retryable or self.timing.clock() >= deadline:
                    raise self._error(answer, resource, hints)
                asked = answer.retry_after
            wait = self.timing.backoff(attempt, base=self.timing.poll_interval / 20)
            if asked is not None:
                wait = min(max(wait, asked), max(0.0, deadline - self.timing.clock()))
            self.timing.sleep(wait)
            attempt += 1

    @staticmethod
    def _error(answer: HttpAnswer, resource: str, hints: Mapping[int, str]) -> ApiError:
        body = answer.body if isinstance(answer.body, dict) else {}
        return ApiError(answer.status, body.get("code"), body.get("message") or answer.text[:200], resource,
                        hints)

    def wait(self, operation: dict[str, Any], resource: str) -> dict[str, Any]:
        """Poll an operation until done; its `response`, or `OperationFailed`."""
        attempt = 0
        while not operation.get("done"):
            self.timing.sleep(self.timing.backoff(attempt, base=self.timing.poll_interval / 8))
            attempt += 1
            operation = self.call("GET", f"{self.endpoints.operation}/operations/{operation['id']}",
                                  resource)
        if "error" in operation:
            error = operation["error"]
            raise OperationFailed(None, error.get("code"), error.get("message", ""), resource, self.hints)
        return operation.get("response") or {}

    def get_or_none(self, url: str, resource: str) -> dict[str, Any] | None:
        try:
            return self.call("GET", url, resource)
        except ApiError as error:
            if error.not_found:
                return None
            raise

    def patch(self, url: str, resource: str, changes: dict[str, Any], mask: list[str]) -> dict[str, Any]:
        """PATCH with an update mask (without one the APIs reset every other field) and wait."""
        body = {"updateMask": ",".join(mask), **changes}
        return self.wait(self.call("PATCH", url, resource, body), resource)

    def delete(self, url: str, resource: str, method: str = "DELETE") -> None:
        """Delete and wait; already gone counts as done."""
        try:
            self.wait(self.call(method, url, resource, idempotent=method == "POST"), resource)
        except ApiError as error:
            if not error.not_found:
                raise

    def pages(self, url: str, resource: str, items: str) -> list[dict[str, Any]]:
        """Every item of a paged list (`pageSize`, `pageToken`, `nextPageToken`)."""
        found: list[dict[str, Any]] = []
        page = ""
        separator = "&" if "?" in url else "?"
        while True:
            query = f"{separator}pageSize=1000" + (f"&pageToken={page}" if page else "")
            answer = self.call("GET", url + query, resource)
            found.extend(answer.get(items) or [])
            page = answer.get("nextPageToken") or ""
            if not page:
                return found
