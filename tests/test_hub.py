"""Reading model facts through the real huggingface_hub client, against a Hub on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from components.hub import HubAccess, HubAccessError, cache_path, load_model_facts
from tests.fake_hub import GRANTED_TOKEN, UNGRANTED_TOKEN, fake_hub

QWEN = "Qwen/Qwen2.5-7B-Instruct"
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"


def access(endpoint: str, cache: Path, token: str | None = None, offline: bool = False) -> HubAccess:
    return HubAccess(endpoint=endpoint, cache_dir=cache, offline=offline, token=token, timeout_seconds=5)


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_facts_are_fetched_once_and_then_read_from_disk(tmp_path: Path) -> None:
    with fake_hub([QWEN]) as (url, hub):
        first = load_model_facts(QWEN, access(url, tmp_path))
        commit = hub.models[QWEN]["sha"]
        assert [path for path, _ in hub.requests] == [
            f"/api/models/{QWEN}", f"/{QWEN}/resolve/{commit}/config.json"]
        assert all(auth is None for _, auth in hub.requests)
    assert first.origin == "hub"
    assert first.revision == commit
    assert first.facts.parameters == 7_615_616_512
    assert first.facts.stored_bytes == 2 * 7_615_616_512
    assert first.facts.shape is not None
    assert first.facts.shape.kv_heads == 4

    # The Hub is gone now: the cached record answers, identically, its commit standing in.
    again = load_model_facts(QWEN, access(closed_port(), tmp_path))
    assert again.origin == "cache"
    assert again.facts == first.facts
    assert again.revision == commit


def test_offline_mode_makes_no_request_and_says_why(tmp_path: Path) -> None:
    with fake_hub([QWEN]) as (url, hub):
        loaded = load_model_facts(QWEN, access(url, tmp_path, offline=True))
        assert hub.requests == []
    assert loaded.origin == "none"
    assert loaded.facts.parameters is None
    assert loaded.unavailable_reason == "HF_HUB_OFFLINE is set"
    assert not cache_path(tmp_path, QWEN).exists()


def test_an_unreachable_hub_is_a_fallback_not_an_error(tmp_path: Path) -> None:
    endpoint = closed_port()
    loaded = load_model_facts(QWEN, access(endpoint, tmp_path))
    assert loaded.origin == "none"
    assert loaded.unavailable_reason == f"cannot reach {endpoint} (ConnectError)"


def test_a_hub_outage_is_a_fallback_and_nothing_is_cached(tmp_path: Path) -> None:
    with fake_hub([QWEN]) as (url, hub):
        hub.outage = True
        loaded = load_model_facts(QWEN, access(url, tmp_path))
    assert loaded.unavailable_reason == f"{url} answered HTTP 503"
    assert not cache_path(tmp_path, QWEN).exists()


def test_a_gated_model_without_a_token_is_a_clear_error_beside_the_facts_it_has(tmp_path: Path) -> None:
    """The Hub answers for a gated model without a token, all but its config: the size is known, so the
    preview says that it fits (or not) in the same round as the token it needs."""
    with fake_hub([LLAMA_8B]) as (url, _):
        loaded = load_model_facts(LLAMA_8B, access(url, tmp_path))
    assert (loaded.gated, loaded.facts.parameters, loaded.facts.config) == (True, 8_030_261_248, None)
    denied = loaded.config_denied
    assert isinstance(denied, HubAccessError)
    assert denied.key == "huggingFaceToken"
    assert denied.value is None
    assert str(denied) == (
        "meta-llama/Llama-3.1-8B-Instruct is gated on Hugging Face: its config (and, at the image build, "
        "its weights) can only be read with a token of an account that accepted its license. Fix: accept "
        "it at https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct, then pulumi config set "
        "--secret huggingFaceToken <read token>")
    assert denied.__cause__ is None
    assert not cache_path(tmp_path, LLAMA_8B).exists(), "read again once a token with access is set"


def test_a_gated_model_with_a_token_without_access_names_the_license(tmp_path: Path) -> None:
    with fake_hub([LLAMA_8B]) as (url, _):
        denied = load_model_facts(LLAMA_8B, access(url, tmp_path, token=UNGRANTED_TOKEN)).config_denied
    assert isinstance(denied, HubAccessError)
    assert denied.value == "[hidden]"
    assert "this token has no access to the gated model meta-llama/Llama-3.1-8B-Instruct" in str(denied)
    assert UNGRANTED_TOKEN not in str(denied)


def test_a_granted_token_reads_a_gated_model_and_is_kept_nowhere(tmp_path: Path) -> None:
    with fake_hub([LLAMA_8B]) as (url, hub):
        loaded = load_model_facts(LLAMA_8B, access(url, tmp_path, token=GRANTED_TOKEN))
        assert {auth for _, auth in hub.requests} == {f"Bearer {GRANTED_TOKEN}"}
    assert loaded.facts.parameters == 8_030_261_248
    cached = cache_path(tmp_path, LLAMA_8B).read_text()
    assert json.loads(cached)["config"]["num_hidden_layers"] == 32
    assert GRANTED_TOKEN not in cached
    assert GRANTED_TOKEN not in repr(access(url, tmp_path, token=GRANTED_TOKEN))


def test_an_unknown_model_is_named_with_the_fix(tmp_path: Path) -> None:
    with fake_hub([]) as (url, _), pytest.raises(HubAccessError) as raised:
        load_model_facts("Qwen/Qwen9-7B-Instruct", access(url, tmp_path))
    assert raised.value.key == "model"
    assert str(raised.value).startswith(
        "Hugging Face has no model Qwen/Qwen9-7B-Instruct (or it is private: pulumi config set --secret "
        "huggingFaceToken <read token>)")


def test_a_rejected_token_is_a_clear_error_that_hides_it(tmp_path: Path) -> None:
    bad = "hf_revoked_0123456789abcdef0123456789"
    with fake_hub([QWEN]) as (url, _), pytest.raises(HubAccessError) as raised:
        load_model_facts(QWEN, access(url, tmp_path, token=bad))
    assert (raised.value.key, raised.value.value) == ("huggingFaceToken", "[hidden]")
    assert str(raised.value).startswith("Hugging Face rejected this token.")
    assert bad not in str(raised.value)


def test_a_damaged_cache_file_is_fetched_again(tmp_path: Path) -> None:
    path = cache_path(tmp_path, QWEN)
    path.parent.mkdir(parents=True)
    path.write_text('{"format": 1, "safetens')
    with fake_hub([QWEN]) as (url, _):
        loaded = load_model_facts(QWEN, access(url, tmp_path))
    assert loaded.origin == "hub"
    assert json.loads(path.read_text())["safetensors"]["total"] == 7_615_616_512


def test_access_follows_the_hub_environment_variables(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "https://hf-mirror.example/")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("VLLM_DATASPHERE_CACHE", str(tmp_path))
    got = HubAccess.from_environment("")
    assert (got.endpoint, got.offline, got.cache_dir, got.token) == (
        "https://hf-mirror.example", True, tmp_path, None)
    monkeypatch.delenv("VLLM_DATASPHERE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert HubAccess.from_environment(None).cache_dir == tmp_path / "xdg" / "vllm-datasphere"


def test_an_unpinned_model_follows_the_hubs_commit_and_fetches_a_commits_config_once(tmp_path: Path) -> None:
    with fake_hub([QWEN]) as (url, hub):
        first = load_model_facts(QWEN, access(url, tmp_path))
        hub.requests.clear()
        same = load_model_facts(QWEN, access(url, tmp_path))
        assert [path for path, _ in hub.requests] == [f"/api/models/{QWEN}"]
        assert same.revision == first.revision

        moved = hub.new_commit(QWEN)
        hub.requests.clear()
        newer = load_model_facts(QWEN, access(url, tmp_path))
        assert [path for path, _ in hub.requests] == [
            f"/api/models/{QWEN}", f"/{QWEN}/resolve/{moved}/config.json"]
    assert newer.revision == moved != first.revision
    assert newer.facts == first.facts


def test_a_pinned_commit_the_cache_holds_costs_no_request(tmp_path: Path) -> None:
    with fake_hub([QWEN]) as (url, hub):
        commit = load_model_facts(QWEN, access(url, tmp_path)).revision
        hub.new_commit(QWEN)
        hub.requests.clear()
        pinned = load_model_facts(QWEN, access(url, tmp_path), revision=commit)
        assert hub.requests == []
    assert (pinned.origin, pinned.revision) == ("cache", commit)


def test_a_pinned_commit_is_read_at_that_commit(tmp_path: Path) -> None:
    with fake_hub([QWEN]) as (url, hub):
        commit = hub.models[QWEN]["sha"]
        loaded = load_model_facts(QWEN, access(url, tmp_path), revision=commit)
        assert [path for path, _ in hub.requests] == [
            f"/api/models/{QWEN}/revision/{commit}", f"/{QWEN}/resolve/{commit}/config.json"]
    assert (loaded.origin, loaded.revision) == ("hub", commit)


def test_a_commit_the_hub_does_not_have_is_refused_with_the_setting(tmp_path: Path) -> None:
    wrong = "0" * 40
    with fake_hub([QWEN]) as (url, _), pytest.raises(HubAccessError) as raised:
        load_model_facts(QWEN, access(url, tmp_path), revision=wrong)
    assert (raised.value.key, raised.value.value) == ("modelRevision", wrong)
    assert str(raised.value) == (
        f"Hugging Face has no commit {wrong} of {QWEN}. Fix: pulumi config set modelRevision <commit "
        f"from https://huggingface.co/{QWEN}/commits/main>, or pulumi config rm modelRevision to serve the "
        "current commit")
    assert not cache_path(tmp_path, QWEN).exists()


def test_offline_with_nothing_cached_knows_no_commit(tmp_path: Path) -> None:
    loaded = load_model_facts(QWEN, access("http://127.0.0.1:9", tmp_path, offline=True))
    assert (loaded.origin, loaded.revision) == ("none", None)
    pinned = load_model_facts(QWEN, access("http://127.0.0.1:9", tmp_path, offline=True), revision="a" * 40)
    assert pinned.revision == "a" * 40


def test_a_gated_model_is_known_as_gated(tmp_path: Path) -> None:
    with fake_hub([LLAMA_8B]) as (url, _):
        loaded = load_model_facts(LLAMA_8B, access(url, tmp_path, token=GRANTED_TOKEN))
    assert loaded.gated is True
    assert load_model_facts(LLAMA_8B, access(closed_port(), tmp_path)).gated is True
