"""The API client and credentials in-process, with an injected clock and sleep."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from components.cloud import credentials, http
from components.cloud.credentials import CredentialsError, token_source
from components.cloud.http import ApiClient, ApiError, Endpoints, HttpAnswer, NotSent, OperationFailed, Timing
from components.datasphere.api import DatasphereClient
from tests.fake_datasphere import API, IAM_TOKEN, OAUTH_TOKEN, FakeDatasphere
from tests.keys import make_key

PROJECT_ID = "bt1project0000000000"


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> Iterator[FakeDatasphere]:
    server = FakeDatasphere().start()
    server.add_project(PROJECT_ID)
    yield server
    server.stop()


def client_for(fake: FakeDatasphere, time: VirtualTime, jitter: float = 1.0,
               deadline: float = 120.0) -> DatasphereClient:
    endpoints = Endpoints(fake.url, fake.url, fake.url, fake.url)
    timing = Timing(poll_interval=8.0, retry_deadline=deadline, sleep=time.sleep, clock=time.clock,
                    jitter=lambda: jitter)
    return DatasphereClient(endpoints, lambda: IAM_TOKEN, timing)


def test_retries_back_off_exponentially_up_to_the_cap(fake: FakeDatasphere) -> None:
    time = VirtualTime()
    fake.inject("GET", f"{API}projects/", [503, 429, 500, 504, 503, 503, 503])
    project = client_for(fake, time).get_project(PROJECT_ID)
    assert project["id"] == PROJECT_ID
    assert time.sleeps == [0.4, 0.8, 1.6, 3.2, 6.4, 8.0, 8.0]


def test_a_bad_gateway_is_retried_like_the_other_gateway_errors(fake: FakeDatasphere) -> None:
    time = VirtualTime()
    fake.inject("GET", f"{API}projects/", [502, 502])
    assert client_for(fake, time).get_project(PROJECT_ID)["id"] == PROJECT_ID
    assert time.sleeps == [0.4, 0.8]


def test_retry_after_is_honoured_within_the_deadline(fake: FakeDatasphere) -> None:
    time = VirtualTime()
    fake.retry_after = "5"
    fake.inject("GET", f"{API}projects/", [429, 503])
    client_for(fake, time).get_project(PROJECT_ID)
    assert time.sleeps == [5.0, 5.0], "longer than the backoff's 0.4 and 0.8: as long as the server asks"
    time = VirtualTime()
    fake.retry_after = "600"
    fake.inject("GET", f"{API}projects/", [503, 503])
    with pytest.raises(ApiError):
        client_for(fake, time, deadline=30.0).get_project(PROJECT_ID)
    assert time.sleeps == [30.0], "never past the deadline"


def test_connections_are_kept_open_between_calls() -> None:
    server = FakeDatasphere(keep_alive=True).start()
    server.add_project(PROJECT_ID)
    try:
        client = client_for(server, VirtualTime())
        for _ in range(5):
            client.get_project(PROJECT_ID)
        assert len(server.requests) == 5
        assert server.connections == 1, "one TLS handshake, not one a call"
    finally:
        server.stop()


def test_jitter_shortens_waits_to_no_less_than_half(fake: FakeDatasphere) -> None:
    time = VirtualTime()
    fake.inject("GET", f"{API}projects/", [503, 503])
    client_for(fake, time, jitter=0.0).get_project(PROJECT_ID)
    assert time.sleeps == [0.2, 0.4]


def test_retries_stop_at_the_deadline_with_the_last_error(fake: FakeDatasphere) -> None:
    time = VirtualTime()
    fake.inject("GET", f"{API}projects/", [503] * 100)
    with pytest.raises(ApiError) as error:
        client_for(fake, time, deadline=30.0).get_project(PROJECT_ID)
    assert error.value.code_name == "UNAVAILABLE"
    assert 30.0 <= time.now < 40.0
    assert f"project {PROJECT_ID}" in str(error.value)


@pytest.mark.parametrize(("status", "code_name"), [(400, "INVALID_ARGUMENT"), (403, "PERMISSION_DENIED"),
                                                   (404, "NOT_FOUND")])
def test_other_failures_are_not_retried(fake: FakeDatasphere, status: int, code_name: str) -> None:
    time = VirtualTime()
    project = "bt1missing0000000000" if status == 404 else PROJECT_ID
    if status != 404:
        fake.inject("GET", f"{API}projects/", [status])
    with pytest.raises(ApiError) as error:
        client_for(fake, time).get_project(project)
    assert time.sleeps == []
    if status != 404:
        assert error.value.status == status
    else:
        assert error.value.code_name == code_name
        assert "pulumi refresh" in str(error.value)


def test_unauthenticated_call_names_the_fix(fake: FakeDatasphere) -> None:
    time = VirtualTime()
    client = client_for(fake, time)
    client.token = lambda: "t1.expired"
    with pytest.raises(ApiError, match=r"UNAUTHENTICATED .*Hint: the token is missing or expired"):
        client.get_project(PROJECT_ID)


def test_operation_error_has_code_name_message_resource_and_hint(fake: FakeDatasphere) -> None:
    time = VirtualTime()
    fake.fail_next_operation("secret", code=7, message="not allowed")
    with pytest.raises(OperationFailed) as error:
        client_for(fake, time).create_secret(PROJECT_ID, "key", "{}", "", {})
    text = str(error.value)
    assert "secret key in project bt1project0000000000: PERMISSION_DENIED" in text
    assert "not allowed" in text
    assert "Hint: the deployer lacks a role" in text


def test_operations_are_polled_with_capped_backoff(fake: FakeDatasphere) -> None:
    time = VirtualTime()
    fake.operation_polls = 6
    client_for(fake, time).create_secret(PROJECT_ID, "key", "{}", "", {})
    assert time.sleeps == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_patch_always_sends_a_mask(fake: FakeDatasphere) -> None:
    client_for(fake, VirtualTime()).update_project(PROJECT_ID, {"subnetId": "e9bsubnet00000000000"}, {})
    [patch] = [r for r in fake.requests if r.method == "PATCH"]
    assert patch.body == {"updateMask": "settings.subnetId", "settings": {"subnetId": "e9bsubnet00000000000"},
                          "limits": {}}


# --- credentials -----------------------------------------------------------------------------

def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def source_for(fake: FakeDatasphere, config: dict[str, str], environ: dict[str, str]):
    endpoints = Endpoints(fake.url, fake.url, fake.url, fake.url)
    return token_source(config.get, environ, endpoints, Timing(poll_interval=0.01))


def test_service_account_key_is_exchanged_with_a_ps256_jwt_once(fake: FakeDatasphere, tmp_path) -> None:
    key, private = make_key()
    path = tmp_path / "key.json"
    path.write_text(json.dumps(key))
    source = source_for(fake, {}, {"YC_SERVICE_ACCOUNT_KEY_FILE": str(path)})
    assert source() == IAM_TOKEN
    assert source() == IAM_TOKEN
    [jwt] = fake.jwts
    header, payload, signature = jwt.split(".")
    assert json.loads(unb64(header)) == {"typ": "JWT", "alg": "PS256", "kid": "ajekey00000000000000"}
    claims = json.loads(unb64(payload))
    assert claims["iss"] == "ajesa000000000000000"
    assert claims["aud"] == f"{fake.url}/iam/v1/tokens"
    assert claims["exp"] - claims["iat"] == 3600
    private.public_key().verify(
        unb64(signature), f"{header}.{payload}".encode(),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
    assert "ajekey" not in repr(source)
    assert "PRIVATE" not in repr(source)


def test_key_json_itself_in_config_wins_over_the_environment(fake: FakeDatasphere, tmp_path) -> None:
    key, _ = make_key()
    source = source_for(fake, {"yandex:serviceAccountKeyFile": json.dumps(key)}, {"YC_TOKEN": OAUTH_TOKEN})
    assert source.kind == "key"
    assert source() == IAM_TOKEN


def test_oauth_token_is_exchanged_and_an_iam_token_used_as_is(fake: FakeDatasphere) -> None:
    oauth = source_for(fake, {}, {"YC_TOKEN": OAUTH_TOKEN})
    assert oauth() == IAM_TOKEN
    assert [r.body for r in fake.requests] == [{"yandexPassportOauthToken": OAUTH_TOKEN}]
    iam = source_for(fake, {"yandex:token": "t1.given"}, {})
    assert iam() == "t1.given"
    assert source_for(fake, {}, {"YC_IAM_TOKEN": "t1.env"})() == "t1.env"
    assert len(fake.requests) == 1


def test_no_credentials_is_a_clear_error(fake: FakeDatasphere) -> None:
    with pytest.raises(CredentialsError, match="yandex:serviceAccountKeyFile or YC_SERVICE_ACCOUNT_KEY_FILE"):
        source_for(fake, {}, {})


# --- the shared client's retry rules for connection failures -------------------------------------

def flaky_send(failures: list[ConnectionError], sent: list[dict]):
    """`send` that fails with `failures` first, then answers a finished operation."""
    def send(method, url, headers, body, timeout):
        sent.append(dict(headers))
        if failures:
            raise failures.pop(0)
        return HttpAnswer(200, {"id": "op1", "done": True, "response": {"id": "x"}}, "")
    return send


@pytest.mark.parametrize(("failure", "idempotent", "attempts"), [
    (NotSent("refused"), False, 2),          # never reached the service: safe to send again
    (ConnectionError("timed out"), False, 1),  # may have been carried out: not sent again
    (ConnectionError("timed out"), True, 2),   # the same Idempotency-Key makes a repeat safe
])
def test_a_post_is_repeated_after_a_connection_failure_only_when_that_is_safe(
        monkeypatch: pytest.MonkeyPatch, failure: ConnectionError, idempotent: bool, attempts: int) -> None:
    sent: list[dict] = []
    monkeypatch.setattr(http, "send", flaky_send([failure], sent))
    time = VirtualTime()
    client = ApiClient(Endpoints(), lambda: IAM_TOKEN,
                       Timing(poll_interval=8.0, sleep=time.sleep, clock=time.clock, jitter=lambda: 1.0))
    if attempts == 1:
        with pytest.raises(ApiError, match=r"UNAVAILABLE .*timed out \(not sent again: it may have been"):
            client.call("POST", "https://api.example/things", "thing t", {}, idempotent=idempotent)
    else:
        assert client.call("POST", "https://api.example/things", "thing t", {}, idempotent=idempotent)["done"]
    assert len(sent) == attempts
    keys = {h.get("Idempotency-Key") for h in sent}
    assert len(keys) == 1
    assert (None not in keys) is idempotent


def test_a_refused_connection_is_told_apart() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago, and nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(NotSent, match="Connection refused"):
        http.send("GET", f"http://127.0.0.1:{port}/x", {}, None, 1.0)


def test_threads_share_one_token_exchange(monkeypatch: pytest.MonkeyPatch) -> None:
    """Independent resources are created in parallel: their calls wait for one exchange, not one each."""
    exchanges: list[str] = []

    def slow_iam(method, url, headers, body, timeout):  # an IAM that takes a moment, as a real one does
        exchanges.append(url)
        time.sleep(0.05)
        return HttpAnswer(200, {"iamToken": IAM_TOKEN, "expiresAt": "2099-01-01T00:00:00Z"}, "")

    monkeypatch.setattr(credentials, "send", slow_iam)
    source = token_source({}.get, {"YC_TOKEN": OAUTH_TOKEN}, Endpoints(), Timing(poll_interval=0.01))
    tokens: list[str] = []
    threads = [threading.Thread(target=lambda: tokens.append(source())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tokens == [IAM_TOKEN] * 8
    assert len(exchanges) == 1
