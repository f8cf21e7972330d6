"""A stack made before the move to Cloud Registry: the README's upgrade, walked against the fakes.

tests/fixtures/state-container-registry.json holds what such a stack had: its exported state (made by
the program as it was, under mocks, with its DataSphere part created through the provider host) and
what the fake cloud held then. The upgrade script forgets the Container Registry resources in the
state; the first `up` after it builds the Cloud Registry part, moves the node and cleans up, with the
old resources' own pickled providers; a second `up` changes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.datasphere.project_settings import OWNER_LABEL
from scripts.forget_container_registry import RETIRED_TYPES, StateError, forget
from tests.cloud import ALIAS, EVERYTHING, FAST, NODE, REGISTRY, SECRET, SETTINGS
from tests.fake_datasphere import FakeDatasphere
from tests.program import PROJECT, ROOT, run_program
from tests.provider_host import Engine, Managed

FIXTURE = json.loads((ROOT / "tests" / "fixtures" / "state-container-registry.json").read_text())
STATE = FIXTURE["state"]
OLD_SECRET = "Secret:vllm-dev-registry-key"
DYNAMIC = "pulumi-python:dynamic/datasphere:"


def resources(state: dict[str, Any]) -> list[dict[str, Any]]:
    return state["deployment"]["resources"]


def plain(value: Any) -> Any:
    """Exported values as the engine hands them to a provider: secrets opened."""
    if isinstance(value, dict):
        if "plaintext" in value:
            return json.loads(value["plaintext"])
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def test_the_fixture_is_a_stack_on_container_registry() -> None:
    types = [r["type"] for r in resources(STATE)]
    assert types.count("yandex:index/containerRegistry:ContainerRegistry") == 1
    assert types.count("yandex:index/containerRegistryIamBinding:ContainerRegistryIamBinding") == 2
    [node] = FIXTURE["fake"]["nodes"].values()
    assert node["docker"]["image"].startswith("cr.yandex/")
    assert node["docker"]["username"] == "json_key"


def test_forget_takes_out_the_registry_and_its_bindings_and_every_reference() -> None:
    after, retired = forget(json.loads(json.dumps(STATE)))
    gone = {r["urn"] for r in retired}
    assert sorted(r["type"].rsplit(":", 1)[1] for r in retired) == [
        "ContainerRegistry", "ContainerRegistryIamBinding", "ContainerRegistryIamBinding"]
    assert len(gone) == 3
    kept = resources(after)
    assert len(kept) == len(resources(STATE)) - 3
    urns = {r["urn"] for r in kept}
    for resource in kept:
        referenced = [*resource.get("dependencies", []), resource.get("parent")]
        referenced += [u for urns_ in (resource.get("propertyDependencies") or {}).values() for u in urns_]
        assert not gone & set(referenced), resource["urn"]
        assert {u for u in referenced if u} <= urns | {r["urn"] for r in resources(STATE)
                                                       if r["type"].startswith("pulumi:")}
    before = {r["urn"]: r for r in resources(STATE)}
    for resource in kept:  # values (and secrets) pass through untouched
        assert resource.get("outputs") == before[resource["urn"]].get("outputs")
        assert resource.get("inputs") == before[resource["urn"]].get("inputs")
    image = next(r for r in kept if r["type"] == "docker:index/image:Image")
    assert len(image["dependencies"]) == len(before[image["urn"]]["dependencies"]) - 2


def test_forget_refuses_a_state_with_an_unfinished_operation_on_the_registry() -> None:
    state = json.loads(json.dumps(STATE))
    registry = next(r for r in resources(state) if r["type"] in RETIRED_TYPES)
    state["deployment"]["pending_operations"] = [{"resource": registry, "type": "deleting"}]
    with pytest.raises(StateError, match="did not finish: run `pulumi refresh`"):
        forget(state)


def stub_pulumi(work: Path, exported: dict[str, Any]) -> dict[str, str]:
    """A `pulumi` on PATH that exports `exported`, records its arguments and keeps what is imported."""
    bin_dir = work / "bin"
    bin_dir.mkdir(parents=True)
    (work / "exported.json").write_text(json.dumps(exported))
    stub = bin_dir / "pulumi"
    stub.write_text(f"""#!/usr/bin/env bash
echo "$*" >> {work}/calls
case "$1 $2" in
  "stack export") cp {work}/exported.json "${{@: -1}}" ;;
  "stack import") cp "${{@: -1}}" {work}/imported.json ;;
esac
""")
    stub.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "VLLM_DATASPHERE_BACKUPS": str(work / "backups")}


def run_upgrade(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(ROOT / "scripts" / "upgrade-from-container-registry.sh"), "dev"],
                          env=env, capture_output=True, text=True, check=False)


def calls(work: Path) -> list[str]:
    return [call.split(" --file")[0] for call in (work / "calls").read_text().splitlines()]


def test_the_upgrade_script_exports_forgets_imports_and_keeps_a_backup(tmp_path: Path) -> None:
    done = run_upgrade(stub_pulumi(tmp_path, STATE))
    assert done.returncode == 0, done.stderr
    assert calls(tmp_path) == ["stack export --stack dev", "stack import --stack dev"]
    imported = json.loads((tmp_path / "imported.json").read_text())
    assert imported == forget(json.loads(json.dumps(STATE)))[0]
    assert "ContainerRegistry " in done.stdout
    assert "Next: ./scripts/up.sh dev" in done.stdout
    [backup] = (tmp_path / "backups").glob("dev-before-cloud-registry-*.json")
    assert json.loads(backup.read_text()) == STATE

    again = tmp_path / "again"
    repeated = run_upgrade(stub_pulumi(again, imported))
    assert repeated.returncode == 0, repeated.stderr
    assert "already on Cloud Registry" in repeated.stdout
    assert calls(again) == ["stack export --stack dev"]


def old_engine_state(engine: Engine) -> None:
    """The engine's state of the old stack's DataSphere part, from the upgraded export."""
    upgraded, _ = forget(json.loads(json.dumps(STATE)))
    for resource in resources(upgraded):
        if resource["type"].startswith(DYNAMIC):
            name = f"{resource['type'].rsplit(':', 1)[1]}:{resource['urn'].rsplit('::', 1)[1]}"
            engine.state[name] = Managed(resource["id"], plain(resource["inputs"]),
                                         plain(resource["outputs"]))


def test_the_first_up_after_the_upgrade_moves_the_node_to_cloud_registry(fake: FakeDatasphere,
                                                                       engine: Engine) -> None:
    fake.load(FIXTURE["fake"])
    old_engine_state(engine)
    assert set(engine.state) == {SETTINGS, OLD_SECRET, NODE, ALIAS}
    old_node = engine.state[NODE].id
    seen = len(fake.requests)

    run = run_program(FAST | {f"{PROJECT}:maxUnitsPerHour": "849600"})
    done = engine.up_program(run)
    # The project settings are updated once, to mark the project as this stack's (its owner label).
    assert done == dict.fromkeys(EVERYTHING, "created") | {
        SETTINGS: "updated", NODE: "replaced", ALIAS: "updated", OLD_SECRET: "deleted"}
    owner = fake.projects[engine.state[SETTINGS].id]["labels"][OWNER_LABEL]
    assert owner == engine.state[SETTINGS].outputs["owner"]
    assert owner.startswith("dev-")

    [registry] = fake.registry.registries.values()
    [node] = fake.nodes.values()
    assert node["id"] != old_node
    assert node["docker"]["image"].startswith(f"registry.yandexcloud.net/{registry['id']}/vllm@sha256:")
    assert node["docker"]["username"] == "api_key"
    [secret] = fake.secrets.values()
    assert node["docker"]["passwordSecretName"] == secret["name"] == "vllm-dev-pull-key"
    pull_key = engine.state["ApiKey:vllm-dev-pull"]
    assert fake.secret_contents[secret["id"]] == pull_key.outputs["secret"]
    assert [a["nodes"] for a in fake.aliases.values()] == [[{"nodeId": node["id"], "trafficPercent": 100}]]
    new = fake.requests[seen:]
    assert not [r for r in new if "cr.yandex" in r.raw or "json_key" in r.raw]
    assert (engine.state[REGISTRY].id, SECRET in engine.state) == (registry["id"], True)

    assert engine.up_program(run) == dict.fromkeys(EVERYTHING, "same")
