"""Where the tools get an IAM token: the variable, a service-account key, or the yc CLI."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from endpoint.auth import AuthError, iam_token
from tests.fake_datasphere import IAM_TOKEN, FakeDatasphere
from tests.keys import make_key


@pytest.fixture
def fake() -> Iterator[FakeDatasphere]:
    server = FakeDatasphere().start()
    yield server
    server.stop()


def never(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
    raise AssertionError(f"unexpected {command}")


def test_a_given_token_is_used_as_is() -> None:
    assert iam_token(None, {"YC_IAM_TOKEN": "t1.given"}, run=never) == "t1.given"


def test_a_key_file_is_exchanged_for_a_token(fake: FakeDatasphere, tmp_path: Path) -> None:
    key, _ = make_key()
    path = tmp_path / "client-key.json"
    path.write_text(json.dumps(key))
    assert iam_token(str(path), {}, iam_endpoint=fake.url, run=never) == IAM_TOKEN
    [jwt] = fake.jwts
    assert jwt.count(".") == 2
    # The variable names the key too; the JSON itself works as well as a path.
    assert iam_token(None, {"YC_SERVICE_ACCOUNT_KEY_FILE": json.dumps(key)}, iam_endpoint=fake.url,
                     run=never) == IAM_TOKEN


def test_a_broken_key_file_says_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps({"id": "ajekey"}))
    with pytest.raises(AuthError, match=r"cannot get an IAM token with the service account key: the service "
                                        r"account key lacks \['private_key', 'service_account_id'\]"):
        iam_token(str(path), {}, run=never)


def test_otherwise_yc_makes_one() -> None:
    calls: list[list[str]] = []

    def yc(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        return subprocess.CompletedProcess(command, 0, "t1.from-yc\n", "")

    assert iam_token(None, {}, run=yc) == "t1.from-yc"
    assert calls == [["yc", "iam", "create-token"]]


def test_without_yc_or_anything_the_error_lists_the_ways() -> None:
    def missing(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(command[0])

    with pytest.raises(AuthError, match=r"no credentials: set YC_IAM_TOKEN, pass --key-file with a service "
                                        r"account key \(e.g. the stack's clientKeyJson\), or install"):
        iam_token(None, {}, run=missing)

    def logged_out(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 1, "", "ERROR: no profile\n")

    with pytest.raises(AuthError, match=r"`yc iam create-token` failed: ERROR: no profile"):
        iam_token(None, {}, run=logged_out)
