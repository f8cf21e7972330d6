"""`python -m endpoint doctor` against the fake cloud and the fake Hub: one line per assumption, an exit
code that says whether `pulumi up` can be expected to work, and a transcript with no token or secret."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from components.cloud.http import Timing
from endpoint.doctor import doctor, scrub
from tests.fake_datasphere import IAM_TOKEN, OAUTH_TOKEN, FakeDatasphere
from tests.fake_hub import fake_hub
from tests.keys import make_key
from tests.program import ROOT

PROJECT_ID = "bt1project0000000000"
FOLDER_ID = "b1gfolder00000000000"
QUICK = Timing(poll_interval=0.05, retry_deadline=1.0)


@pytest.fixture
def project(tmp_path: Path, fake: FakeDatasphere, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A clone's config files, its stack pointed at the fakes; the Hub's answers from the fake Hub."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    endpoints = {f"vllm-datasphere:{key}": fake.url for key in (
        "datasphereEndpoint", "operationEndpoint", "iamEndpoint", "nodeApiEndpoint", "cloudRegistryEndpoint")}
    stack = {"config": {"vllm-datasphere:datasphereProjectId": PROJECT_ID,
                        "vllm-datasphere:folderId": FOLDER_ID,
                        "vllm-datasphere:model": "Qwen/Qwen2.5-7B-Instruct", **endpoints}}
    (tmp_path / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack))
    with fake_hub(["Qwen/Qwen2.5-7B-Instruct"]) as (url, _):
        monkeypatch.setenv("HF_ENDPOINT", url)
        monkeypatch.delenv("HF_HUB_OFFLINE")
        monkeypatch.setenv("VLLM_DATASPHERE_CACHE", str(tmp_path / "cache"))
        yield tmp_path


def run(project: Path, env: dict[str, str]) -> tuple[int, list[str], dict]:
    out = io.StringIO()
    code = doctor(project, "dev", project / "transcript.json", env, out, QUICK)
    return code, out.getvalue().splitlines(), json.loads((project / "transcript.json").read_text())


def test_every_assumption_holds_against_the_fakes(project: Path) -> None:
    code, lines, transcript = run(project, {"YC_TOKEN": IAM_TOKEN})
    assert code == 0
    verdicts = [line.split("  ")[0].strip() for line in lines[:-1]]
    assert verdicts == ["holds"] * 9
    assert [line.split(": ")[0].split("  ")[-1].strip() for line in lines[:-1]] == [
        "an IAM token from the credentials",
        f"DataSphere project {PROJECT_ID} and its settings",
        "its community bt1community00000000 and zone",
        f"GET /datasphere/v2/nodes?projectId={PROJECT_ID}",
        f"GET /datasphere/v2/aliases?projectId={PROJECT_ID}",
        f"GET /datasphere/v2/secrets?projectId={PROJECT_ID}",
        f"the Cloud Registry API (registries of folder {FOLDER_ID})",
        "node-api answers for a node that does not exist (GET /v1/models, x-node-id)",
        "the Hugging Face Hub answers for Qwen/Qwen2.5-7B-Instruct"]
    assert lines[-1].startswith("pulumi up can be expected to work. Transcript, with every token and secret "
                                "removed: ")
    paths = [e["request"].split(" ", 1)[1].split("/", 3)[3].split("?")[0] for e in transcript["exchanges"]]
    assert paths == [f"datasphere/v2/projects/{PROJECT_ID}", "datasphere/v2/communities/bt1community00000000",
                     "datasphere/v2/nodes", "datasphere/v2/aliases", "datasphere/v2/secrets",
                     "cloud-registry/v1/registries", "v1/models"]
    assert [a["verdict"] for a in transcript["assumptions"]] == ["holds"] * 9
    assert IAM_TOKEN not in json.dumps(transcript)


def test_a_call_of_the_contract_that_does_not_exist_says_up_would_fail(project: Path,
                                                                        fake: FakeDatasphere) -> None:
    fake.unknown_paths = {"nodes"}
    code, lines, _ = run(project, {"YC_TOKEN": IAM_TOKEN})
    assert code == 1
    [line] = [line for line in lines if "/nodes?" in line]
    assert line.startswith("no such call")
    assert lines[-1].startswith("pulumi up would fail where a line says differs or no such call")


def test_without_credentials_it_cannot_tell_and_says_which_to_set(project: Path) -> None:
    code, lines, _ = run(project, {})
    assert code == 2
    assert lines[0].startswith("cannot tell   an IAM token from the credentials: no Yandex Cloud credentials")
    assert lines[1].startswith("holds         the Hugging Face Hub answers"), "it needs no credentials"


def test_the_transcript_keeps_no_token_key_or_secret(project: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(make_key()[0]))
    for env in ({"YC_TOKEN": OAUTH_TOKEN}, {"YC_SERVICE_ACCOUNT_KEY_FILE": str(key_file)}):
        code, _, transcript = run(project, env)
        assert code == 0
        text = json.dumps(transcript)
        for secret in (IAM_TOKEN, OAUTH_TOKEN, "PRIVATE KEY", "Bearer"):
            assert secret not in text


def test_scrub_removes_secret_fields_and_token_shapes() -> None:
    assert scrub({"iamToken": "t1.abc", "secret": "s", "apiKey": {"id": "k1"}, "name": "ok",
                  "message": "token t1.xyz-123 and hf_abcdef and AQVNabc were refused"}) == {
        "iamToken": "[removed]", "secret": "[removed]", "apiKey": "[removed]", "name": "ok",
        "message": "token [removed] and [removed] and [removed] were refused"}
