"""The commit a stack serves, through the whole program against the fake Hub on 127.0.0.1: an empty
modelRevision follows the Hub's main branch (a new commit is a new image), a set one stays."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from components import platform
from components.preflight import StartBytes, start_bytes
from tests.fake_hub import HubState, fake_hub, recorded_weights_bytes
from tests.program import PROJECT, ProgramRun, run_program

QWEN = "Qwen/Qwen2.5-7B-Instruct"
IMAGE = "docker-build:index:Image"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[HubState]:
    """The Hub online (the session's recorded cache and offline switch set aside)."""
    with fake_hub([QWEN]) as (url, state):
        monkeypatch.setenv("VLLM_DATASPHERE_CACHE", str(tmp_path))
        monkeypatch.delenv("HF_HUB_OFFLINE")
        monkeypatch.setenv("HF_ENDPOINT", url)
        yield state


def serve_args(run: ProgramRun) -> list[str]:
    return json.loads(run.one(IMAGE).inputs["buildArgs"]["VLLM_SERVE_ARGS"])["managed"]


def test_an_empty_revision_follows_the_hub_and_a_new_commit_is_a_new_image(hub: HubState) -> None:
    first = run_program()
    commit = hub.models[QWEN]["sha"]
    assert first.outputs["modelRevision"] == commit
    assert serve_args(first)[-4:] == ["--revision", commit, "--tokenizer-revision", commit]

    moved = hub.new_commit(QWEN)
    second = run_program()
    assert second.outputs["modelRevision"] == moved
    assert second.outputs["imageRef"] != first.outputs["imageRef"]
    node = "pulumi-python:dynamic/datasphere:Node"
    assert second.one(node).inputs["image"] == second.outputs["imageRef"] != first.one(node).inputs["image"]


def test_a_pinned_revision_stays_whatever_the_hub_does(hub: HubState) -> None:
    commit = hub.models[QWEN]["sha"]
    pinned = {f"{PROJECT}:modelRevision": commit}
    first = run_program(pinned)
    hub.new_commit(QWEN)
    hub.requests.clear()
    second = run_program(pinned)
    assert hub.requests == [], "a pinned commit the cache holds costs no request"
    assert second.outputs["modelRevision"] == first.outputs["modelRevision"] == commit
    assert second.outputs["imageRef"] == first.outputs["imageRef"]


def test_with_weights_in_the_image_the_build_downloads_the_pinned_commit(hub: HubState) -> None:
    run = run_program({f"{PROJECT}:weights": "image"})
    args = run.one(IMAGE).inputs["buildArgs"]
    assert (args["MODEL_ID"], args["MODEL_REVISION"]) == (QWEN, hub.models[QWEN]["sha"])
    moved = hub.new_commit(QWEN)
    again = run_program({f"{PROJECT}:weights": "image"})
    assert again.one(IMAGE).inputs["buildArgs"]["MODEL_REVISION"] == moved


def test_what_a_node_start_moves_by_where_the_weights_are() -> None:
    size = recorded_weights_bytes(QWEN)
    assert size == 15_231_233_024
    assert start_bytes("hub", size) == StartBytes(registry=platform.VLLM_IMAGE_PULL_BYTES, hub=size)
    assert start_bytes("image", size) == StartBytes(registry=platform.VLLM_IMAGE_PULL_BYTES + size, hub=0.0)
