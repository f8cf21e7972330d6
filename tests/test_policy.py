"""The policy pack, without the CLI: its validators called the way the SDK's analyzer calls them.

Inputs go through `pulumi_policy`'s own deserialization and unknown-checking proxy, so a
validator sees exactly what it would see in `pulumi preview --policy-pack policy`. The program's
real registrations (under mocks) are run through every policy too, which also proves that the
type tokens in policy/policies.py are the ones the program uses.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties, serialize_properties
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from components.platform import GPU_CONFIGURATIONS
from policy.policies import (
    API_KEY,
    DATASPHERE_SECRET,
    IMAGE,
    NODE,
    POLICIES,
    PROJECT_SETTINGS,
    SERVICE_ACCOUNT_KEY,
    WIDE_GRANTS,
)
from tests.program import PROJECT, ROOT, SECRET_SIG, SIG_KEY, ProgramRun, Registration, Secret, run_program

POLICY_DIR = ROOT / "policy"
DIGEST = "sha256:" + "ab" * 32
FOLDER_MEMBER = "yandex:index/resourcemanagerFolderIamMember:ResourcemanagerFolderIamMember"


def raw(value: Any) -> Any:
    """Back to the wire form the analyzer receives: secrets as signature objects."""
    if isinstance(value, Secret):
        return {SIG_KEY: SECRET_SIG, "value": raw(value.value)}
    if isinstance(value, dict):
        return {k: raw(v) for k, v in value.items()}
    if isinstance(value, list):
        return [raw(v) for v in value]
    return value


def args_for(type_: str, props: dict[str, Any], *, name: str = "r", secret_outputs: list[str] | None = None,
             config: dict[str, Any] | None = None, remediation: bool = False) -> ResourceValidationArgs:
    opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), secret_outputs or [])
    deserialized = deserialize_properties(raw(props), remediation)
    props_seen = unknown_checking_proxy(deserialized)
    return ResourceValidationArgs(type_, props_seen, f"urn:{name}", name, opts, None, config)


def policy(name: str) -> ResourceValidationPolicy:
    return next(p for p in POLICIES if p.name == name)


def violations(name: str, args: ResourceValidationArgs) -> list[str]:
    found: list[str] = []
    policy(name).validate(args, lambda message, _urn: found.append(message))
    return found


def all_violations(registration: Registration) -> dict[str, list[str]]:
    args = args_for(registration.type, registration.inputs, name=registration.name,
                    secret_outputs=registration.additional_secret_outputs)
    return {p.name: found for p in POLICIES if p.has_validation() and (found := violations(p.name, args))}


def test_a_compliant_program_passes_every_policy() -> None:
    run = run_program({f"{PROJECT}:maxUnitsPerHour": "849600", f"{PROJECT}:clientServiceAccount": "true"})
    assert {r.name: v for r in run.registrations if (v := all_violations(r))} == {}
    [image] = run.of_type(IMAGE)
    assert policy("registry-password-secret").remediate(
        args_for(IMAGE, image.inputs, remediation=True)) is None
    # Every type the policies name is one the program registers (or, for wide grants, could).
    registered = {r.type for r in run.registrations}
    named = {NODE, PROJECT_SETTINGS, DATASPHERE_SECRET, SERVICE_ACCOUNT_KEY, API_KEY, IMAGE, FOLDER_MEMBER}
    assert named <= registered


def test_the_default_config_is_stopped_for_its_missing_spend_cap(default_run: ProgramRun) -> None:
    found = {r.name: v for r in default_run.registrations if (v := all_violations(r))}
    assert list(found) == ["vllm-dev"]
    [message] = found["vllm-dev"]["project-spend-cap"]
    assert message == ("DataSphere project bt1project0000000000 gets no spend cap (maxUnitsPerHour = 0): a "
                       "forgotten node bills until someone notices. Fix: pulumi config set maxUnitsPerHour "
                       "835200 (what the stack's nodes use in an hour during a rollout; the preview prints "
                       "it)")


@pytest.mark.parametrize(("image", "ok"), [
    (f"registry.yandexcloud.net/cn100000000000000001/vllm@{DIGEST}", True),
    ("registry.yandexcloud.net/cn100000000000000001/vllm:dev-qwen2.5-7b-instruct", False),
    (f"registry.yandexcloud.net/cn100000000000000001/vllm:v1@{DIGEST}", False),
    ("registry.yandexcloud.net/cn100000000000000001/vllm@sha256:short", False),
    (f"cr.yandex/crp0000000000000000000/vllm@{DIGEST}", False),
    (f"docker.io/vllm/vllm-openai@{DIGEST}", False),
])
def test_the_node_image_must_be_in_cloud_registry_pinned_by_digest(image: str, ok: bool) -> None:
    found = violations("node-image-digest-pinned", args_for(NODE, {"image": image}, name="vllm-dev"))
    assert found == ([] if ok else [
        f"node vllm-dev runs {image!r}, which is not an image in Cloud Registry pinned by digest. A tag can "
        "be moved to an image nobody reviewed, a rebuilt image under the same tag does not replace the node, "
        "and only Cloud Registry serves the node's pull key. Fix: give the node the pushed image's "
        "digest (registry.yandexcloud.net/<registryId>/<image>@sha256:...)"])


def test_an_image_unknown_at_preview_is_left_to_the_update() -> None:
    with pytest.raises(UnknownValueError):
        violations("node-image-digest-pinned", args_for(NODE, {"image": UNKNOWN_STRING_VALUE}))


@pytest.mark.parametrize(("type_", "output"), [
    (SERVICE_ACCOUNT_KEY, "privateKey"), (DATASPHERE_SECRET, "content"), (API_KEY, "secret")])
def test_key_material_must_be_marked_secret(type_: str, output: str) -> None:
    assert violations("key-material-secret", args_for(type_, {}, secret_outputs=[output])) == []
    assert violations("key-material-secret", args_for(type_, {}, name="k")) == [
        f"k does not mark {output} secret, so the state would keep it in plain text. Fix: create it "
        f"with additional_secret_outputs=[{output!r}]"]


def test_a_plain_registry_password_is_made_secret() -> None:
    registry = {"address": "registry.yandexcloud.net", "username": "api_key", "password": "AQVN-k"}
    props = {"tags": ["registry.yandexcloud.net/r/vllm:x"], "registries": [registry]}
    remediated = policy("registry-password-secret").remediate(args_for(IMAGE, props, remediation=True))
    assert policy("registry-password-secret").enforcement_level == EnforcementLevel.REMEDIATE
    wire = json.loads(json.dumps(raw(props)))
    assert serialize_properties(remediated) == wire | {"registries": [wire["registries"][0] | {"password": {
        SIG_KEY: SECRET_SIG, "value": "AQVN-k"}}]}
    secret_already = props | {"registries": [registry | {"password": Secret("p")}]}
    assert policy("registry-password-secret").remediate(args_for(IMAGE, secret_already, remediation=True)) \
        is None


def test_a_plain_build_secret_is_made_secret() -> None:
    props = {"tags": ["registry.yandexcloud.net/r/vllm:x"], "secrets": {"hf_token": "hf_plain"}}
    remediated = policy("build-secrets-secret").remediate(args_for(IMAGE, props, remediation=True))
    assert serialize_properties(remediated)["secrets"] == {
        "hf_token": {SIG_KEY: SECRET_SIG, "value": "hf_plain"}}
    already = props | {"secrets": {"hf_token": Secret("hf_plain")}}
    assert policy("build-secrets-secret").remediate(args_for(IMAGE, already, remediation=True)) is None


@pytest.mark.parametrize("type_", sorted(WIDE_GRANTS))
def test_registry_roles_are_refused_on_a_folder_or_cloud(type_: str) -> None:
    scope = WIDE_GRANTS[type_]
    found = violations("registry-roles-on-registry",
                       args_for(type_, {"role": "cloud-registry.artifacts.puller"}, name="grant"))
    assert found == [f"grant grants cloud-registry.artifacts.puller on the whole {scope}, which opens "
                     "every registry in it. Fix: grant it on the registry "
                     "(RegistryAccessBinding in components/identity.py)"]
    assert violations("registry-roles-on-registry", args_for(type_, {"role": "vpc.user"})) == []


def test_the_instance_spec_allowlist_comes_from_the_policy_config() -> None:
    node = {"instanceSpec": "g2.8"}
    [message] = violations("allowed-instance-specs", args_for(NODE, node, name="vllm-dev"))
    assert message.startswith("node vllm-dev asks for 'g2.8', which this repository's policy does not allow "
                              "(allowed: gt4.1, gt4i.1, g2.1, g2.2).")
    allow = {"allowedInstanceSpecs": ["g2.8"]}
    assert violations("allowed-instance-specs", args_for(NODE, node, config=allow)) == []
    assert violations("allowed-instance-specs", args_for(NODE, {"instanceSpec": "g2.1"})) == []


@pytest.mark.parametrize(("cap", "ok"), [(835_200, True), (835_200.0, True), (10**7, True), (20, False),
                                         (835_199, False), (0, False), (None, False), (True, False)])
def test_the_project_needs_a_spend_cap_its_nodes_run_under(cap: Any, ok: bool) -> None:
    props = {"projectId": "p", "maxUnitsPerHour": cap, "minUnitsPerHour": 835_200.0}
    found = violations("project-spend-cap", args_for(PROJECT_SETTINGS, props))
    assert (found == []) is ok


def test_a_cap_below_the_nodes_use_says_the_number_to_set() -> None:
    props = {"projectId": "p", "maxUnitsPerHour": 20.0, "minUnitsPerHour": 835_200.0}
    assert violations("project-spend-cap", args_for(PROJECT_SETTINGS, props)) == [
        "DataSphere project p gets a spend cap of 20 units an hour, below the 835200 its nodes use during a "
        "rollout: DataSphere would stop them. Fix: pulumi config set maxUnitsPerHour 835200"]


def test_the_pack_and_its_ci_config_agree() -> None:
    names = [p.name for p in POLICIES]
    assert len(names) == len(set(names))
    manifest = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"
    config = json.loads((POLICY_DIR / "config.json").read_text())
    assert set(config) <= set(names)
    schema = policy("allowed-instance-specs").config_schema
    assert schema is not None
    assert set(config["allowed-instance-specs"]) <= set(schema.properties)
    assert set(config["allowed-instance-specs"]["allowedInstanceSpecs"]) <= set(GPU_CONFIGURATIONS)
    assert (POLICY_DIR / "__main__.py").read_text().count("PolicyPack(") == 1


def test_policy_dir_is_the_pack_path_the_workflow_uses() -> None:
    workflow = (ROOT / ".github" / "workflows" / "pull-request.yml").read_text()
    assert "policyPacks: policy" in workflow
    assert "policyPackConfigs: policy/config.json" in workflow


def test_every_node_of_several_models_is_checked() -> None:
    entries = [{"name": "chat", "model": "Qwen/Qwen2.5-7B-Instruct"},
               {"name": "small", "model": "Qwen/Qwen2.5-7B-Instruct-AWQ", "quantization": "awq",
                "instanceSpec": "gt4.1", "maxModelLen": 4096},
               {"name": "big", "model": "Qwen/Qwen2.5-7B-Instruct", "instanceSpec": "g2.4"}]
    run = run_program({f"{PROJECT}:maxUnitsPerHour": "4449600", f"{PROJECT}:model": None,
                       f"{PROJECT}:models": json.dumps(entries)})
    found = {r.name: sorted(v) for r in run.registrations if (v := all_violations(r))}
    assert found == {"vllm-dev-big": ["allowed-instance-specs"]}
