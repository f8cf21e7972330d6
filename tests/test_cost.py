"""What a deploy costs, and a spend cap that cannot stop the stack's own nodes: at preview, in the outputs,
in the project-settings provider's check (through the provider host) and in the policy pack."""

from __future__ import annotations

import json
import logging

import pytest
import yaml

from components import platform
from components.cost import Rate, spend_cap_message, stack_cost
from tests.models import THREE, TOKEN, models_config
from tests.program import PROJECT, ROOT, ProgramRun, run_program
from tests.provider_host import Engine, dynamic_inputs
from tests.test_preview import problems_of
from tests.test_project_files import README

G2_1 = platform.CONFIGURATIONS["g2.1"]


def test_one_a100_costs_what_the_docs_price_table_says() -> None:
    rate = Rate(G2_1.units_per_second)
    # 116 units a second x 3600 x 0.0013176 RUB (with VAT); a month is 720 hours.
    assert (rate.units_per_hour, rate.rub_per_hour, rate.rub_per_month) == (417_600, 550.23, 396_165.43)


def test_every_current_gpu_configuration_has_a_price_and_usable_memory_below_nominal() -> None:
    nominal = {"gt4.1": 16, "gt4i.1": 24, "g1.1": 32, "g2.1": 80, "g2.8": 40}
    for name in platform.GPU_CONFIGURATIONS:
        configuration = platform.CONFIGURATIONS[name]
        assert configuration.units_per_second > 0
        assert configuration.gpu_memory_gib < nominal.get(name, configuration.gpu_memory_gib + 1)
    assert "g2.mig" not in platform.CONFIGURATIONS
    assert platform.RETIRED_CONFIGURATIONS["g2.mig"].instead in platform.GPU_CONFIGURATIONS


def test_the_stacks_cost_adds_its_nodes() -> None:
    cost = stack_cost([("chat", G2_1, 1), ("small", platform.CONFIGURATIONS["gt4.1"], 2)])
    assert cost.rate.units_per_second == 116 + 2 * 36
    assert cost.as_output()["models"]["small"] == {
        "instanceSpec": "gt4.1", "instances": 2, "unitsPerSecond": 72, "unitsPerHour": 259_200,
        "rubPerHour": 341.52, "rubPerMonth": 245_895.78}
    assert cost.rollout_units_per_hour == 2 * 188 * 3600


@pytest.mark.parametrize(("cap", "refused"), [(0, False), (20, True), (417_600, True), (835_199, True),
                                              (835_200, False), (10**9, False)])
def test_a_cap_must_let_the_nodes_run_through_a_rollout(cap: int, refused: bool) -> None:
    assert (spend_cap_message(cap, stack_cost([("default", G2_1, 1)])) is not None) == refused


def test_a_cap_of_20_on_a_g2_1_stack_is_refused_at_preview_with_the_number_to_set() -> None:
    found = problems_of({f"{PROJECT}:maxUnitsPerHour": "20"})
    assert found == {"maxUnitsPerHour": (
        "is below what this stack's nodes use: 417,600 units an hour while they run (116 units a second), "
        "and 835,200 during an update, which starts each new node beside the old one; DataSphere stops "
        "every computation of the project once its hourly consumption passes the cap. Fix: pulumi config "
        "set maxUnitsPerHour 835200 (add what notebooks in the project use, e.g. 14400 for a c1.4), or "
        "pulumi config set maxUnitsPerHour 0 for no cap")}


def test_the_cap_offered_passes_and_is_what_the_project_gets() -> None:
    run = run_program({f"{PROJECT}:maxUnitsPerHour": "835200"}, preview=True)
    [settings] = [r for r in run.registrations if r.type.endswith("datasphere:ProjectSettings")]
    assert (settings.inputs["maxUnitsPerHour"], settings.inputs["minUnitsPerHour"]) == (835_200, 835_200)


def test_the_cap_counts_every_model_and_instance(caplog: pytest.LogCaptureFixture) -> None:
    # chat on g2.1, small on gt4.1, llama (8B, 8192 tokens) on g2.1 twice: 116 + 36 + 2 x 116 = 384 a second.
    with caplog.at_level(logging.INFO):
        found = problems_of(models_config(THREE, maxUnitsPerHour="1000000"))
    assert "Fix: pulumi config set maxUnitsPerHour 2764800 " in found["maxUnitsPerHour"]
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("cost")]
    assert line.startswith("cost: [chat] 1 x g2.1 550.23 RUB/h; [small] 1 x gt4.1 170.76 RUB/h; [llama] 2 x "
                           "g2.1 1,100.46 RUB/h; in all 384 units/s = 1,382,400 units/h, 1,821.45 RUB/h")
    run = run_program(models_config(THREE, maxUnitsPerHour="2764800"))
    assert run.outputs["cost"]["unitsPerSecond"] == 384
    assert run.outputs["cost"]["models"]["small"]["instanceSpec"] == "gt4.1"
    assert TOKEN not in json.dumps(run.outputs["cost"])


def test_the_example_stack_passes_its_own_cap(caplog: pytest.LogCaptureFixture) -> None:
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    config = {key: value if isinstance(value, str) else json.dumps(value) for key, value in stack.items()
              if key not in ("yandex:cloudId", f"{PROJECT}:datasphereProjectId")}
    with caplog.at_level(logging.INFO):
        run = run_program(config, preview=True)
    assert int(config[f"{PROJECT}:maxUnitsPerHour"]) >= 2 * run.outputs["cost"]["unitsPerHour"]
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("cost")]
    assert line.startswith("cost: 1 x g2.1 550.23 RUB/h; in all 116 units/s = 417,600 units/h, 550.23 RUB/h, "
                           "396,165 RUB/month")
    assert "550.23 RUB an hour" in README
    assert "396,165 RUB a month" in README


def test_the_provider_refuses_a_cap_below_what_its_nodes_need(engine: Engine,
                                                              default_run: ProgramRun) -> None:
    news = dynamic_inputs(default_run, "ProjectSettings") | {"maxUnitsPerHour": 20}
    assert news["minUnitsPerHour"] == 835_200
    failures = engine.host.call("check", olds={}, news=news)["failures"]
    assert failures == [{"property": "maxUnitsPerHour", "reason": (
        "maxUnitsPerHour 20 is below 835,200, the units an hour this stack's nodes use during a rollout "
        "(each new node beside its old one); DataSphere would stop them. Fix: pulumi config set "
        "maxUnitsPerHour 835200, or 0 for no cap")}]
    for cap in (0, 835_200):
        assert engine.host.call("check", olds={}, news=news | {"maxUnitsPerHour": cap})["failures"] == []


def test_the_docs_table_is_the_code_table() -> None:
    """docs/configurations.md is read by people; every figure in it must be the code's."""
    text = (ROOT / "docs" / "configurations.md").read_text()
    rows = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("| `g")]
    documented = {cells[0].strip(" `"): [c.strip() for c in cells[1:]] for cells in rows}
    assert set(documented) == set(platform.GPU_CONFIGURATIONS)
    for name, (_, usable, capability, units, per_hour, per_month) in documented.items():
        configuration = platform.CONFIGURATIONS[name]
        rate = Rate(configuration.units_per_second)
        assert float(usable) == configuration.gpu_memory_gib, name
        assert capability.split()[0] == ".".join(map(str, configuration.compute_capability or ())), name
        assert int(units) == configuration.units_per_second, name
        assert (per_hour, per_month) == (f"{rate.rub_per_hour:,.2f}", f"{rate.rub_per_month:,.0f}"), name
