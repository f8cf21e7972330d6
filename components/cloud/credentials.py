"""IAM tokens for the stack's API calls, from the same credentials the Yandex provider uses.

Order: a service-account authorized key (`yandex:serviceAccountKeyFile` or
`YC_SERVICE_ACCOUNT_KEY_FILE`, a path or the JSON itself) exchanged with a PS256 JWT; then
`yandex:token` or `YC_TOKEN` (an IAM token `t1.` as is, an OAuth token exchanged); then
`YC_IAM_TOKEN`. Tokens are cached until shortly before they expire. Nothing here is pickled:
the provider builds a source in `configure`, from config and environment.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from components.cloud.http import ApiError, Endpoints, Timing, send

IAM_TOKEN_PATH = "/iam/v1/tokens"  # noqa: S105 - a URL path
JWT_LIFETIME_SECONDS = 3600  # the IAM API accepts at most one hour
TOKEN_LIFETIME_SECONDS = 12 * 3600  # IAM tokens live 12 h
REFRESH_MARGIN_SECONDS = 300


class CredentialsError(Exception):
    """No usable credentials; the message says which settings were looked at, never their values."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def load_authorized_key(value: str) -> dict[str, str]:
    """The key file's JSON from a path or from the JSON text itself."""
    text = value if value.lstrip().startswith("{") else Path(value).expanduser().read_text()
    key = json.loads(text)
    missing = {"id", "service_account_id", "private_key"} - set(key)
    if missing:
        raise CredentialsError(f"the service account key lacks {sorted(missing)}; "
                               "create one with `yc iam key create`")
    return key


def signed_jwt(key: Mapping[str, str], audience: str, now: float) -> str:
    """A PS256 JWT as the IAM API expects it (iam/operations/iam-token/create-for-sa)."""
    pem = key["private_key"]
    pem = pem[pem.index("-----BEGIN"):]  # newer key files start with a "PLEASE DO NOT REMOVE" line
    private_key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise CredentialsError("the service account key is not an RSA key")
    header = {"typ": "JWT", "alg": "PS256", "kid": key["id"]}
    payload = {"iss": key["service_account_id"], "aud": audience, "iat": int(now),
               "exp": int(now) + JWT_LIFETIME_SECONDS}
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(payload).encode())}"
    signature = private_key.sign(
        signing_input.encode(),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size),
        hashes.SHA256(),
    )
    return f"{signing_input}.{_b64url(signature)}"


def _lifetime(answer: Mapping[str, Any], now: float) -> float:
    expires_at = answer.get("expiresAt")
    if not expires_at:
        return TOKEN_LIFETIME_SECONDS
    expires = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    return expires.timestamp() - now


@dataclass
class TokenSource:
    """Callable that returns a valid IAM token, exchanging and caching as needed."""

    kind: str
    credential: str
    endpoints: Endpoints
    timing: Timing
    wall_clock: Callable[[], float] = lambda: datetime.now(UTC).timestamp()
    _token: str | None = None
    _expires: float = 0.0
    # The engine calls a provider from several threads at once (independent resources are created in
    # parallel): one exchange serves them all.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __repr__(self) -> str:
        return f"TokenSource(kind={self.kind!r})"

    def __call__(self) -> str:
        with self._lock:
            return self._current()

    def _current(self) -> str:
        if self._token and self.timing.clock() < self._expires - REFRESH_MARGIN_SECONDS:
            return self._token
        if self.kind == "iam":
            self._token, self._expires = self.credential, self.timing.clock() + TOKEN_LIFETIME_SECONDS
            return self._token
        now = self.wall_clock()
        url = f"{self.endpoints.iam}{IAM_TOKEN_PATH}"
        if self.kind == "key":
            body = {"jwt": signed_jwt(load_authorized_key(self.credential), url, now)}
        else:
            body = {"yandexPassportOauthToken": self.credential}
        answer = send("POST", url, {}, body, self.timing.request_timeout)
        if answer.status != 200 or not isinstance(answer.body, dict) or "iamToken" not in answer.body:
            details = answer.body if isinstance(answer.body, dict) else {}
            raise ApiError(answer.status, details.get("code"), details.get("message", "no IAM token"),
                           f"IAM token exchange ({self.kind} credentials)")
        self._token = answer.body["iamToken"]
        self._expires = self.timing.clock() + _lifetime(answer.body, now)
        return self._token


def token_source(config: Callable[[str], Any], environ: Mapping[str, str], endpoints: Endpoints,
                 timing: Timing) -> TokenSource:
    """Pick the first credential that is set, in the Yandex provider's order."""
    key = config("yandex:serviceAccountKeyFile") or environ.get("YC_SERVICE_ACCOUNT_KEY_FILE")
    if key:
        return TokenSource("key", key, endpoints, timing)
    token = config("yandex:token") or environ.get("YC_TOKEN")
    if token:
        return TokenSource("iam" if token.startswith("t1.") else "oauth", token, endpoints, timing)
    if environ.get("YC_IAM_TOKEN"):
        return TokenSource("iam", environ["YC_IAM_TOKEN"], endpoints, timing)
    raise CredentialsError(
        "no Yandex Cloud credentials for the DataSphere and Cloud Registry APIs: set "
        "yandex:serviceAccountKeyFile or "
        "YC_SERVICE_ACCOUNT_KEY_FILE, yandex:token or YC_TOKEN, or YC_IAM_TOKEN"
    )
