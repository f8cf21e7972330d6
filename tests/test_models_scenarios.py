"""Several models through the provider host against the fake cloud: independent lifecycles, a canary's
traffic moved without a failed request, nodes started in parallel, and one owner per project."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from components.datasphere.project_settings import OWNER_LABEL
from tests.cloud import FAST, PROJECT_ID, SETTINGS, calling_the_alias, deploy, up_one
from tests.fake_datasphere import API, ORIGINAL_SETTINGS, FakeDatasphere
from tests.models import AWQ, CANARY, LLAMA_8B, QWEN, THREE, models_config
from tests.program import ProgramRun, run_program
from tests.provider_host import Engine, ProviderError, dynamic_inputs, state_name

SERVED = {"vllm-dev-chat-": "chat", "vllm-dev-small-": AWQ, "vllm-dev-llama-": LLAMA_8B,
          "vllm-dev-stable-": "chat", "vllm-dev-next-": "chat"}
SHARED = ("Registry:vllm-dev", "AccessBinding:vllm-dev-puller", "AccessBinding:vllm-dev-pusher",
          "ApiKey:vllm-dev-pull", "ApiKey:vllm-dev-push", SETTINGS, "Secret:vllm-dev-pull-key")


def program(entries: list[dict[str, Any]]) -> ProgramRun:
    return run_program(FAST | models_config(entries))


def node_writes(fake: FakeDatasphere, since: int = 0) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake.writes()[since:] if r.path.startswith(f"{API}nodes")]


@pytest.fixture
def models_fake(fake: FakeDatasphere) -> FakeDatasphere:
    fake.served_models = SERVED
    return fake


def test_changing_or_removing_one_model_touches_only_its_node_and_alias(models_fake: FakeDatasphere,
                                                                        engine: Engine) -> None:
    fake = models_fake
    first = deploy(engine, program(THREE))
    assert set(first.values()) == {"created"}
    assert (len(fake.nodes), len(fake.aliases)) == (3, 3)
    nodes = {name: engine.state[f"Node:vllm-dev-{name}"].id for name in ("chat", "small", "llama")}
    served = {fake.model_of(node) for node in fake.nodes.values()}
    assert served == {"chat", AWQ, LLAMA_8B}

    changed = [*THREE[:2], THREE[2] | {"maxModelLen": 4096}]
    assert deploy(engine, program(changed)) == dict.fromkeys(first, "same") | {
        "Node:vllm-dev-llama": "replaced", "Alias:vllm-dev-llama": "updated"}
    new_llama = engine.state["Node:vllm-dev-llama"].id
    assert set(fake.nodes) == {nodes["chat"], nodes["small"], new_llama}

    before = len(fake.writes())
    without_small = [changed[0], changed[2]]
    done = deploy(engine, program(without_small))
    assert {name: what for name, what in done.items() if what != "same"} == {
        "Alias:vllm-dev-small": "deleted", "Node:vllm-dev-small": "deleted"}
    assert set(fake.nodes) == {nodes["chat"], new_llama}
    assert {a["name"] for a in fake.aliases.values()} == {"vllm-dev-chat", "vllm-dev-llama"}
    assert node_writes(fake, before) == [("DELETE", f"{API}nodes/{nodes['small']}")]


def test_moving_a_canarys_traffic_updates_the_alias_alone_and_no_call_fails(models_fake: FakeDatasphere,
                                                                           engine: Engine) -> None:
    fake = models_fake
    deploy(engine, program(CANARY))
    [alias] = fake.aliases.values()
    stable, next_ = (engine.state[f"Node:vllm-dev-{name}"].id for name in ("stable", "next"))
    assert alias["nodes"] == [{"nodeId": stable, "trafficPercent": 90},
                              {"nodeId": next_, "trafficPercent": 10}]
    before = len(fake.writes())
    with calling_the_alias(fake, "datasphere.user.chat", fake.nodes[stable]["folderId"]) as answers:
        half = [CANARY[0] | {"trafficPercent": 50}, CANARY[1] | {"trafficPercent": 50}]
        done = deploy(engine, program(half))

    assert {name: what for name, what in done.items() if what != "same"} == {"Alias:chat": "updated"}
    assert node_writes(fake, before) == []
    assert alias["nodes"] == [{"nodeId": stable, "trafficPercent": 50},
                              {"nodeId": next_, "trafficPercent": 50}]
    assert len(answers) > 10
    assert set(answers) == {200}, "a client of the alias saw an error while the traffic moved"
    reached = [fake._route(alias) for _ in range(100)]
    assert (reached.count(stable), reached.count(next_)) == (50, 50)


def test_promoting_a_canary_moves_all_traffic_before_the_old_node_goes(models_fake: FakeDatasphere,
                                                                       engine: Engine) -> None:
    fake = models_fake
    deploy(engine, program(CANARY))
    stable, next_ = (engine.state[f"Node:vllm-dev-{name}"].id for name in ("stable", "next"))
    before = len(fake.writes())
    done = deploy(engine, program([CANARY[1] | {"trafficPercent": 100}]))
    assert {name: what for name, what in done.items() if what != "same"} == {
        "Alias:chat": "updated", "Node:vllm-dev-stable": "deleted"}
    [alias] = fake.aliases.values()
    assert alias["nodes"] == [{"nodeId": next_, "trafficPercent": 100}]
    writes = [(r.method, r.path) for r in fake.writes()[before:]]
    assert writes.index(("PATCH", f"{API}aliases/{alias['id']}")) < writes.index(
        ("DELETE", f"{API}nodes/{stable}"))


def test_independent_nodes_start_at_once(models_fake: FakeDatasphere, engine: Engine) -> None:
    """The engine creates independent resources in parallel: three nodes through one provider host."""
    fake = models_fake
    run = program(THREE)
    for registration in run.dynamic():
        if not registration.type.endswith((":Node", ":Alias")):
            engine.up_registration(run, registration)
    inputs = [engine.check({}, engine.program_inputs(run, r)) for r in run.of_type(
        "pulumi-python:dynamic/datasphere:Node")]
    created: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda i=i: created.append(engine.host.call("create", properties=i)))
               for i in inputs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(created) == 3 == len(fake.nodes)
    posts = [i for i, r in enumerate(fake.requests) if r.method == "POST" and r.path == f"{API}nodes"]
    served = [i for i, r in enumerate(fake.requests) if r.path == "/v1/models"]
    # Every node was asked for before any probe: the three start-ups overlap, they do not queue.
    assert max(posts) < min(served)
    assert {fake.model_of(n) for n in fake.nodes.values()} == {"chat", AWQ, LLAMA_8B}


def other_stack(run: ProgramRun, **change: Any) -> dict[str, Any]:
    """The project settings stack `prod` would ask for: its own account, folder and subnet."""
    return dynamic_inputs(run, "ProjectSettings") | {
        "ownerStack": "prod", "serviceAccountId": "ajeprodaccount000000",
        "defaultFolderId": "b1gprodfolder0000000", "subnetId": "e9bprodsubnet0000000"} | change


def test_a_second_stack_is_refused_a_project_the_first_set_up(fake: FakeDatasphere, engine: Engine,
                                                              default_run: ProgramRun) -> None:
    up_one(engine, default_run, SETTINGS)
    project = fake.projects[PROJECT_ID]
    ours = dict(project["settings"])
    label = project["labels"][OWNER_LABEL]
    assert label == engine.state[SETTINGS].outputs["owner"]
    assert label.startswith("dev-")

    prod = Engine(engine.host)
    with pytest.raises(ProviderError) as error:
        prod.up("settings", other_stack(default_run))
    assert f"DataSphere project {PROJECT_ID} is set up by stack dev (project label " in str(error.value)
    assert str(error.value).strip().endswith("service account and subnet). Nothing was changed.")
    assert project["settings"] == ours
    assert fake.projects[PROJECT_ID]["labels"] == {OWNER_LABEL: label}

    # Adopted knowingly: prod's settings and label; dev's next change is refused, its destroy leaves them.
    assert prod.up("settings", other_stack(default_run, adopt=True)) == "created"
    assert project["settings"]["serviceAccountId"] == "ajeprodaccount000000"
    assert project["labels"][OWNER_LABEL].startswith("prod-")
    with pytest.raises(ProviderError, match="is set up by stack prod"):
        engine.up(SETTINGS, engine.program_inputs(default_run, default_run.one(
            "pulumi-python:dynamic/datasphere:ProjectSettings")) | {"maxUnitsPerHour": 900000})
    engine.destroy([SETTINGS])
    assert project["settings"]["serviceAccountId"] == "ajeprodaccount000000"
    assert project["labels"][OWNER_LABEL].startswith("prod-")

    # prod's destroy puts back what it found: dev's settings; the label goes.
    prod.destroy(["settings"])
    assert project["settings"] == ours
    assert project["labels"] == {}


def test_settings_changed_by_hand_are_not_overwritten_silently(fake: FakeDatasphere, engine: Engine,
                                                               default_run: ProgramRun) -> None:
    up_one(engine, default_run, SETTINGS)
    project = fake.projects[PROJECT_ID]
    project["settings"]["subnetId"] = "e9bsomeoneelses00000"
    inputs = dynamic_inputs(default_run, "ProjectSettings") | {"maxUnitsPerHour": 900000}
    with pytest.raises(ProviderError) as error:
        engine.up(SETTINGS, inputs)
    assert (f"DataSphere project {PROJECT_ID}: its subnetId is 'e9bsomeoneelses00000', which this stack "
            "neither set") in str(error.value)
    assert "pulumi config set adoptProjectSettings true" in str(error.value)
    assert project["settings"]["subnetId"] == "e9bsomeoneelses00000"

    # A refresh shows the drift but does not make the change this stack's: destroy leaves it alone.
    assert engine.refresh(SETTINGS) == "refreshed"
    engine.destroy([SETTINGS])
    assert project["settings"]["subnetId"] == "e9bsomeoneelses00000"
    assert project["settings"]["serviceAccountId"] != ORIGINAL_SETTINGS["serviceAccountId"]


def test_adopting_takes_back_a_changed_project_and_destroy_restores_it(fake: FakeDatasphere, engine: Engine,
                                                                       default_run: ProgramRun) -> None:
    up_one(engine, default_run, SETTINGS)
    project = fake.projects[PROJECT_ID]
    project["settings"]["subnetId"] = "e9bsomeoneelses00000"
    inputs = dynamic_inputs(default_run, "ProjectSettings")
    assert engine.up(SETTINGS, inputs | {"adopt": True}) == "updated"
    assert project["settings"]["subnetId"] == inputs["subnetId"]
    engine.destroy([SETTINGS])
    assert project["settings"] == ORIGINAL_SETTINGS
    assert project["labels"] == {}


def test_destroy_of_many_models_leaves_nothing(models_fake: FakeDatasphere, engine: Engine) -> None:
    fake = models_fake
    run = program(THREE)
    deploy(engine, run)
    assert {state_name(r) for r in run.dynamic()} >= set(SHARED)
    engine.destroy_all()
    assert (fake.nodes, fake.aliases, fake.secrets, fake.registry.registries) == ({}, {}, {}, {})
    assert fake.projects[PROJECT_ID]["settings"] == ORIGINAL_SETTINGS
    assert fake.projects[PROJECT_ID]["labels"] == {}


def test_a_one_model_stack_moves_to_models_without_a_new_alias(fake: FakeDatasphere, engine: Engine,
                                                               default_run: ProgramRun) -> None:
    """The entry keeps the alias by naming it: its node is new, and replaces the old one like a rollout."""
    deploy(engine, default_run)
    old_node = engine.state["Node:vllm-dev"].id
    [alias] = fake.aliases.values()
    entry = {"name": "chat", "model": QWEN, "aliasName": "vllm-dev"}
    done = deploy(engine, program([entry]))
    assert {name: what for name, what in done.items() if what != "same"} == {
        "Node:vllm-dev-chat": "created", "Alias:vllm-dev": "updated", "Node:vllm-dev": "deleted"}
    new_node = engine.state["Node:vllm-dev-chat"].id
    assert list(fake.aliases.values()) == [alias]
    assert alias["nodes"] == [{"nodeId": new_node, "trafficPercent": 100}]
    assert list(fake.nodes) == [new_node] != [old_node]
