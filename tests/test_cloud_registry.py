"""Cloud Registry end to end: the registry, its role bindings and the API keys, through the SDK's
provider host against the fake cloud (docs/cloud-registry-api.md), and the preview's check of an
existing `registryId` under mocks against the same fake."""

from __future__ import annotations

import re

import pytest

from components.cloud.http import Endpoints, Timing
from components.cloudregistry.access_binding import RegistryAccessBindingProvider
from components.cloudregistry.api import CloudRegistryClient
from components.config_parsing import ConfigError
from tests.cloud import (
    EVERYTHING,
    FAST,
    NODE,
    PULL_KEY,
    PULLER,
    PUSH_KEY,
    PUSHER,
    REGISTRY,
    SECRET,
    deploy,
    endpoints_at,
    up_one,
)
from tests.fake_cloud_registry import API_KEYS, REGISTRY_API
from tests.fake_datasphere import IAM_TOKEN, FakeDatasphere
from tests.program import PROJECT, ProgramRun, Registration, run_program
from tests.provider_host import Engine, ProviderError

REGISTRY_TYPE = "pulumi-python:dynamic/cloudregistry:Registry"
SOMEONE = {"roleId": "cloud-registry.admin", "subject": {"id": "ajeperson0000000000", "type": "userAccount"}}


@pytest.fixture(scope="module")
def program() -> ProgramRun:
    return run_program(FAST | {f"{PROJECT}:maxUnitsPerHour": "849600"})


def registry_inputs(engine: Engine, run: ProgramRun) -> dict:
    return engine.program_inputs(run, run.one(REGISTRY_TYPE))


def registry_writes(fake: FakeDatasphere) -> list[tuple[str, str]]:
    return [(r.method, r.path.removeprefix(REGISTRY_API)) for r in fake.writes()
            if r.path.startswith(REGISTRY_API)]


def test_create_then_an_unchanged_run_writes_nothing(fake: FakeDatasphere, engine: Engine,
                                                      program: ProgramRun) -> None:
    assert up_one(engine, program, REGISTRY) == "created"
    [registry] = fake.registry.registries.values()
    assert engine.state[REGISTRY].id == registry["id"]
    assert engine.state[REGISTRY].outputs["status"] == "ACTIVE"
    [create] = [r for r in fake.writes() if r.path == REGISTRY_API]
    assert create.body == {"folderId": program.outputs["folderId"], "name": "vllm-dev", "kind": "DOCKER",
                           "type": "LOCAL", "description": "vLLM images of stack dev (managed by Pulumi)",
                           "labels": {"managed-by": "pulumi", "project": "vllm-datasphere", "stack": "dev"}}
    writes = len(fake.writes())
    assert up_one(engine, program, REGISTRY) == "same"
    assert len(fake.writes()) == writes


@pytest.mark.parametrize(("key", "value"), [("name", "vllm-renamed"), ("description", "shared images"),
                                            ("labels", {"team": "ml"})])
def test_name_labels_and_description_change_in_place_with_a_mask(
        fake: FakeDatasphere, engine: Engine, program: ProgramRun, key: str, value: object) -> None:
    up_one(engine, program, REGISTRY)
    registry_id = engine.state[REGISTRY].id
    assert engine.up(REGISTRY, registry_inputs(engine, program) | {key: value}) == "updated"
    assert engine.state[REGISTRY].id == registry_id
    assert fake.registry.registries[registry_id][key] == value
    patch = registry_writes(fake)[-1]
    assert patch == ("PATCH", f"/{registry_id}")
    assert fake.writes()[-1].body == {"updateMask": key, key: value}


@pytest.mark.parametrize(("key", "value"), [("kind", "NPM"), ("folderId", "b1gotherfolder000000"),
                                            ("type", "VIRTUAL")])
def test_kind_type_or_folder_make_a_new_registry(fake: FakeDatasphere, engine: Engine, program: ProgramRun,
                                                 key: str, value: str) -> None:
    up_one(engine, program, REGISTRY)
    old = engine.state[REGISTRY].id
    news = registry_inputs(engine, program) | {key: value}
    diff = engine.host.call("diff", id=old, olds=engine.state[REGISTRY].outputs, news=engine.check({}, news))
    # The same name in the same folder can be taken only once the old registry is gone.
    assert diff == {"changes": True, "replaces": [key], "deleteBeforeReplace": key != "folderId"}
    assert engine.up(REGISTRY, news) == "replaced"
    engine.finish()
    new = engine.state[REGISTRY].id
    assert list(fake.registry.registries) == [new]
    assert fake.registry.registries[new][key] == value
    assert ("POST", f"/{old}:forceDelete") in registry_writes(fake)


def test_refresh_sees_a_registry_deleted_behind_the_stacks_back(fake: FakeDatasphere, engine: Engine,
                                                                program: ProgramRun) -> None:
    up_one(engine, program, REGISTRY)
    del fake.registry.registries[engine.state[REGISTRY].id]
    assert engine.refresh(REGISTRY) == "gone"
    assert up_one(engine, program, REGISTRY) == "created"
    assert len(fake.registry.registries) == 1


def test_import_reads_everything_from_the_cloud(fake: FakeDatasphere, engine: Engine) -> None:
    registry_id = fake.registry.add_registry("team-images")
    provider = run_program().one(REGISTRY_TYPE).inputs["__provider"].value
    result = engine.host.call("read", id=registry_id, properties={}, inputs={"__provider": provider})
    assert result["id"] == registry_id
    assert {k: result["properties"][k] for k in ("folderId", "name", "kind", "type", "status", "labels",
                                                 "description")} == {
        "folderId": "b1gteamfolder0000000", "name": "team-images", "kind": "DOCKER", "type": "LOCAL",
        "status": "ACTIVE", "labels": {}, "description": ""}


def test_a_failed_create_deletes_what_it_started(fake: FakeDatasphere, engine: Engine,
                                                 program: ProgramRun) -> None:
    fake.fail_next_operation("registry", code=8, message="registry quota exceeded")
    with pytest.raises(ProviderError) as error:
        up_one(engine, program, REGISTRY)
    text = str(error.value)
    assert "registry vllm-dev in folder" in text
    assert "RESOURCE_EXHAUSTED" in text
    assert "registry quota exceeded" in text
    assert "was deleted." in text
    assert fake.registry.registries == {}
    assert REGISTRY not in engine.state


def test_a_lost_answer_is_retried_with_the_same_idempotency_key(fake: FakeDatasphere, engine: Engine,
                                                                program: ProgramRun) -> None:
    fake.lose_answers("POST", REGISTRY_API, [500, 504])
    assert up_one(engine, program, REGISTRY) == "created"
    posts = [r for r in fake.requests if r.method == "POST" and r.path == REGISTRY_API]
    assert len(posts) == 3
    assert len({r.headers["idempotency-key"] for r in posts}) == 1
    assert len(fake.registry.registries) == 1


def test_bursts_of_429_and_503_are_survived(fake: FakeDatasphere, engine: Engine,
                                            program: ProgramRun) -> None:
    fake.inject("POST", REGISTRY_API, [429, 503, 500])
    fake.inject("GET", f"{REGISTRY_API}/", [503, 429])
    fake.inject("POST", API_KEYS, [429, 503])
    assert deploy(engine, program) == dict.fromkeys(EVERYTHING, "created")
    assert fake.faults == []
    assert len(fake.registry.registries) == 1
    assert len(fake.registry.api_keys) == 2


def test_destroy_empties_and_deletes_the_stacks_registry(fake: FakeDatasphere, engine: Engine,
                                                         program: ProgramRun) -> None:
    deploy(engine, program)
    registry_id = engine.state[REGISTRY].id
    fake.registry.images[registry_id] = ["vllm@sha256:" + "1" * 64]
    engine.destroy_all()
    assert fake.registry.registries == {}
    assert fake.registry.images == {}
    assert fake.registry.api_keys == {}
    assert ("POST", f"/{registry_id}:forceDelete") in registry_writes(fake)


def test_destroy_with_the_registry_gone_first_and_destroy_again_succeed(
        fake: FakeDatasphere, engine: Engine, program: ProgramRun) -> None:
    deploy(engine, program)
    managed = dict(engine.state)
    registry_id = managed[REGISTRY].id
    engine.destroy([REGISTRY])  # by hand, or by an interrupted destroy: its bindings went with it
    assert registry_id not in fake.registry.registries
    assert engine.refresh(PULLER) == "gone"
    engine.state[PULLER] = managed[PULLER]
    engine.destroy_all()
    # A second destroy (an interrupted one run again) finds everything gone, and succeeds.
    for resource in managed.values():
        engine.host.call("delete", id=resource.id, properties=resource.outputs)
    assert fake.registry.registries == {}
    assert fake.registry.api_keys == {}


def test_bindings_are_posted_refreshed_and_removed_one_by_one(fake: FakeDatasphere, engine: Engine,
                                                              program: ProgramRun) -> None:
    up_one(engine, program, REGISTRY)
    registry_id = engine.state[REGISTRY].id
    fake.registry.bindings[registry_id] = [SOMEONE]
    assert up_one(engine, program, PULLER) == "created"
    puller = {"roleId": "cloud-registry.artifacts.puller",
              "subject": {"id": program.outputs["serviceAccountId"], "type": "serviceAccount"}}
    assert fake.registry.bindings[registry_id] == [SOMEONE, puller]
    updates = [r for r in fake.requests if r.path.endswith(":updateAccessBindings")]
    assert [(r.method, r.body) for r in updates] == [
        ("POST", {"accessBindingDeltas": [{"action": "ADD", "accessBinding": puller}]})]
    assert engine.state[PULLER].id == (f"{registry_id}/cloud-registry.artifacts.puller/"
                                       f"{program.outputs['serviceAccountId']}/serviceAccount")

    assert engine.refresh(PULLER) == "refreshed"
    fake.registry.bindings[registry_id].remove(puller)
    assert engine.refresh(PULLER) == "gone"
    assert up_one(engine, program, PULLER) == "created"

    engine.destroy([PULLER])
    assert fake.registry.bindings[registry_id] == [SOMEONE]
    assert updates[0].headers["idempotency-key"]


def test_a_binding_already_there_is_adopted(fake: FakeDatasphere, engine: Engine,
                                            program: ProgramRun) -> None:
    up_one(engine, program, REGISTRY)
    registry_id = engine.state[REGISTRY].id
    pusher = engine.program_inputs(program, registration(program, "vllm-dev-pusher"))
    fake.registry.bindings[registry_id] = [
        {"roleId": pusher["roleId"], "subject": {"id": pusher["subjectId"], "type": "serviceAccount"}}]
    assert up_one(engine, program, PUSHER) == "created"
    assert not [r for r in fake.requests if r.path.endswith(":updateAccessBindings")]


def registration(run: ProgramRun, name: str) -> Registration:
    return next(r for r in run.registrations if r.name == name and r.type.endswith(":AccessBinding"))


class VirtualTime:
    def __init__(self) -> None:
        self.now, self.sleeps = 0.0, []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_the_push_right_settles_before_the_push(fake: FakeDatasphere, program: ProgramRun) -> None:
    """IAM is eventually consistent: after granting, the binding waits its settle time (virtual clock)."""
    registry_id = fake.registry.add_registry("team-images")
    time = VirtualTime()
    provider = RegistryAccessBindingProvider()
    timing = Timing(poll_interval=0.01, sleep=time.sleep, clock=lambda: time.now)
    endpoints = Endpoints(registry=fake.url, operation=fake.url)
    provider._client = CloudRegistryClient(endpoints, lambda: IAM_TOKEN, timing)
    inputs = {"registryId": registry_id, "roleId": "cloud-registry.artifacts.pusher",
              "subjectId": "ajepusher00000000000", "subjectType": "serviceAccount", "settleSeconds": 15}
    provider.create(inputs)
    assert time.sleeps[-1] == 15
    assert registration(program, "vllm-dev-pusher").inputs["settleSeconds"] == 15
    settled = len(time.sleeps)
    provider.create(inputs)
    assert len(time.sleeps) == settled, "an adopted binding needs no wait"


def test_an_api_key_secret_is_shown_once_and_kept_from_the_state(fake: FakeDatasphere, engine: Engine,
                                                                 program: ProgramRun) -> None:
    deploy(engine, program)
    key = engine.state[PULL_KEY]
    assert key.outputs["secret"] == fake.registry.secrets_shown[key.id]
    assert "secret" not in fake.registry.api_keys[key.id]
    assert engine.refresh(PULL_KEY) == "refreshed"
    assert engine.state[PULL_KEY].outputs["secret"] == key.outputs["secret"]
    del fake.registry.api_keys[key.id]
    assert engine.refresh(PULL_KEY) == "gone"


def test_rotating_the_pull_key_updates_the_secret_and_keeps_the_node(fake: FakeDatasphere, engine: Engine,
                                                                    program: ProgramRun) -> None:
    deploy(engine, program)
    old_key, node = engine.state[PULL_KEY].id, engine.state[NODE].id
    done = engine.up_program(program, replace=(PULL_KEY,))
    assert done == dict.fromkeys(EVERYTHING, "same") | {PULL_KEY: "replaced", SECRET: "updated"}
    new_key = engine.state[PULL_KEY].id
    assert set(fake.registry.api_keys) == {new_key, engine.state[PUSH_KEY].id}
    [secret] = fake.secrets.values()
    assert fake.secret_contents[secret["id"]] == fake.registry.secrets_shown[new_key] != \
        fake.registry.secrets_shown[old_key]
    assert list(fake.nodes) == [node]


@pytest.mark.parametrize(("change", "reason"), [
    ({"scopes": []}, "scopes: scopes must name at least one scope"),
    ({"scopes": ["cloud-registry.artifacts.pull"]}, "scopes: scopes must name at least one scope"),
])
def test_api_key_checks_name_the_property(engine: Engine, program: ProgramRun, change: dict,
                                          reason: str) -> None:
    key = next(r for r in program.registrations if r.type.endswith(":ApiKey"))
    with pytest.raises(ProviderError, match=reason):
        engine.check({}, engine.program_inputs(program, key) | change)


@pytest.mark.parametrize(("change", "reason"), [
    ({"name": "Team Images"}, "name: registry name 'Team Images' must be 3-63 lowercase letters"),
    ({"kind": "HELM"}, "kind: kind 'HELM' is not one of DOCKER"),
    ({"type": "TRANSITIONAL"}, "type: type 'TRANSITIONAL' is not one of LOCAL, REMOTE, VIRTUAL"),
])
def test_registry_checks_name_the_property(engine: Engine, program: ProgramRun, change: dict,
                                           reason: str) -> None:
    with pytest.raises(ProviderError, match=reason):
        engine.check({}, registry_inputs(engine, program) | change)


# --- an existing registry (`registryId`) ------------------------------------------------------------

def existing_registry_run(fake: FakeDatasphere, registry_id: str, monkeypatch: pytest.MonkeyPatch,
                          registered: list[Registration] | None = None) -> ProgramRun:
    monkeypatch.setenv("YC_TOKEN", IAM_TOKEN)
    config = FAST | endpoints_at(fake) | {f"{PROJECT}:registryId": registry_id}
    return run_program(config, registrations=registered)


def test_an_existing_registry_gets_the_stacks_bindings_and_nothing_else(
        fake: FakeDatasphere, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    registry_id = fake.registry.add_registry("team-images")
    fake.registry.bindings[registry_id] = [SOMEONE]
    fake.registry.images[registry_id] = ["other-team/app@sha256:" + "2" * 64]
    run = existing_registry_run(fake, registry_id, monkeypatch)
    assert not run.of_type(REGISTRY_TYPE)
    assert run.outputs["registryId"] == registry_id
    assert run.outputs["imageRef"].startswith(f"registry.yandexcloud.net/{registry_id}/vllm@sha256:")
    assert [(r.method, r.path) for r in fake.requests if fake.registry.owns(r.path)] == [
        ("GET", f"{REGISTRY_API}/{registry_id}")]
    assert fake.writes() == []

    assert deploy(engine, run) == dict.fromkeys(set(EVERYTHING) - {REGISTRY}, "created")
    assert list(fake.registry.registries) == [registry_id]
    assert sorted(b["roleId"] for b in fake.registry.bindings[registry_id]) == [
        "cloud-registry.admin", "cloud-registry.artifacts.puller", "cloud-registry.artifacts.pusher"]
    assert deploy(engine, run) == dict.fromkeys(set(EVERYTHING) - {REGISTRY}, "same")

    engine.destroy_all()
    assert list(fake.registry.registries) == [registry_id]
    assert fake.registry.registries[registry_id]["status"] == "ACTIVE"
    assert fake.registry.bindings[registry_id] == [SOMEONE]
    assert fake.registry.images[registry_id] == ["other-team/app@sha256:" + "2" * 64]
    assert not [r for r in fake.writes() if r.path.startswith(f"{REGISTRY_API}/{registry_id}")
                and not r.path.endswith(":updateAccessBindings")]


def test_a_registry_migrated_from_container_registry_is_accepted(fake: FakeDatasphere,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    registry_id = fake.registry.add_registry("migrated", type_="TRANSITIONAL")
    assert existing_registry_run(fake, registry_id, monkeypatch).outputs["registryId"] == registry_id


@pytest.mark.parametrize(("setup", "message"), [
    *((setup, re.escape(message)) for setup, message in (
        ("missing", "is not found (deleted, or in a cloud these credentials cannot see). Fix: pulumi "
                    "config set registryId <id from `yc cloud-registry registry list`>, or pulumi config rm "
                    "registryId"),
        ("maven", "is a MAVEN registry (jars), not a Docker one. Fix: set registryId to a Docker registry, "
                  "or pulumi config rm registryId"),
        ("remote", "is a REMOTE Docker registry (hub-cache), which takes no pushes. Fix: set registryId to "
                   "a LOCAL Docker registry, or pulumi config rm registryId"))),
    ("forbidden", "could not be read: registry .*PERMISSION_DENIED.*Fix: give the deployer "
                  "cloud-registry.viewer"),
])
def test_a_registry_id_that_cannot_work_stops_the_preview_before_any_resource(
        fake: FakeDatasphere, monkeypatch: pytest.MonkeyPatch, setup: str, message: str) -> None:
    registry_id = {"missing": "cn1missing0000000000",
                   "maven": fake.registry.add_registry("jars", kind="MAVEN"),
                   "remote": fake.registry.add_registry("hub-cache", type_="REMOTE"),
                   "forbidden": fake.registry.add_registry("secret-images")}[setup]
    if setup == "forbidden":
        fake.inject("GET", f"{REGISTRY_API}/{registry_id}", [403])
    registered: list[Registration] = []
    with pytest.raises(ConfigError, match=rf"registryId = '{registry_id}': {message}"):
        existing_registry_run(fake, registry_id, monkeypatch, registered)
    assert registered == []


def test_a_registry_id_without_credentials_says_which_to_set(fake: FakeDatasphere,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("YC_TOKEN", "YC_IAM_TOKEN", "YC_SERVICE_ACCOUNT_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    config = FAST | endpoints_at(fake) | {f"{PROJECT}:registryId": "cn1team0000000000000"}
    with pytest.raises(ConfigError, match=r"could not be read: no Yandex Cloud credentials .* set "
                                          r"yandex:serviceAccountKeyFile"):
        run_program(config)
    assert fake.requests == []
