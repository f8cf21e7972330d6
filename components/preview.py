"""Everything checked before any resource is registered, reported together in one error.

A new user should see every mistake of a stack at the first preview, not one round at a time. So
the config problems, the model's preflight, an existing subnet or registry and the DataSphere
project are all checked, and only then, when anything was found, the preview stops. A check runs
unless a setting it reads was refused already: its verdict would rest on the default that stands
in for the refused value, not on the user's choice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pulumi

from components.cloud.credentials import CredentialsError
from components.cloud.http import ApiError
from components.cloud.provider import program_client
from components.config_parsing import ID_SOURCES, ConfigError, ConfigProblem, stack_slug
from components.cost import StackCost, spend_cap_message, stack_cost
from components.datasphere.api import DatasphereClient
from components.datasphere.contract import HOLDS, UNKNOWN, Finding, check_contract
from components.datasphere.project_settings import OWNER_LABEL, owner_stack, taken_by_label
from components.memory import MemoryEstimate
from components.model_settings import ENTRY_KEYS, ModelSettings
from components.network import ExistingSubnet, find_subnet
from components.preflight import model_problems
from components.registry import registry_problems
from components.settings import Settings

# The settings each check reads.
PREFLIGHT_READS = frozenset({"model", "modelRevision", "weights", "modelParamsBillion", "quantization",
                             "dtype", "maxModelLen", "gpuMemoryUtilization", "instanceSpec", "vllmImage"})
SUBNET_READS = frozenset({"subnetId", "zone"})
PROJECT_ROLE = "datasphere.community-projects.editor"
ENTRY_KEY_SET = frozenset(ENTRY_KEYS)


@dataclass(frozen=True)
class Checked:
    """What the checks found that the stack is built on: the settings with every model pinned to the
    commit it serves and to a configuration, `memory` by model name, and what the nodes cost."""

    settings: Settings
    memory: Mapping[str, MemoryEstimate]
    existing_subnet: ExistingSubnet | None
    cost: StackCost


def spend_cap_problems(settings: Settings, models: list[ModelSettings]
                       ) -> tuple[StackCost, list[ConfigProblem]]:
    """What the models cost, printed as the preview's `cost` line, and whether the cap lets them run."""
    cost = stack_cost((m.name, m.configuration, m.instance_count) for m in models)
    pulumi.log.info(cost.summary(labelled=not settings.one_model_form))
    message = spend_cap_message(settings.max_units_per_hour, cost)
    return cost, [] if message is None else [
        ConfigProblem("maxUnitsPerHour", settings.max_units_per_hour, message)]


def project_problems(settings: Settings, zone_checked: bool = True) -> list[ConfigProblem]:
    """Whether the DataSphere project exists, the deployer may read it, no other stack set it up
    (components/datasphere/project_settings.py), and its community (whose zone, where the API gives
    one, is where the nodes run) agrees with `zone`."""
    project_id = settings.datasphere_project_id
    fix = f"pulumi config set datasphereProjectId <id from {ID_SOURCES['datasphereProjectId']}>"
    try:
        client = program_client(DatasphereClient)
        project = client.get_project(project_id)
        community = client.get_community(project["communityId"]) if project.get("communityId") else {}
    except CredentialsError as error:
        return [ConfigProblem("datasphereProjectId", project_id, f"could not be read: {error}")]
    except ApiError as error:
        if error.not_found:
            return [ConfigProblem("datasphereProjectId", project_id, "is not found: no DataSphere project "
                                  f"has this id (or it was deleted). Fix: {fix}")]
        if error.code == 7:
            return [ConfigProblem("datasphereProjectId", project_id, "could not be read: the deployer has no "
                                  f"role on the project. Fix: give it {PROJECT_ROLE} on the project (README, "
                                  "Prerequisites), or " + fix)]
        return [ConfigProblem("datasphereProjectId", project_id, f"could not be read: {error}")]
    found = contract_problems(check_contract(client, project_id), settings.endpoints.datasphere)
    owner = (project.get("labels") or {}).get(OWNER_LABEL)
    if owner and owner_stack(owner) != stack_slug(pulumi.get_stack()) and not settings.adopt_project_settings:
        found.append(ConfigProblem("datasphereProjectId", project_id, taken_by_label(project_id, owner)))
    zone = community.get("zoneId")
    if zone_checked and zone and zone != settings.zone:
        found.append(ConfigProblem("zone", settings.zone, "differs from the zone of the DataSphere "
                                   f"community of project {project_id}, {zone}, where its nodes run. Fix: "
                                   f"pulumi config set zone {zone}"))
    return found


def contract_problems(findings: list[Finding], endpoint: str) -> list[ConfigProblem]:
    """A call of the unpublished part that does not answer as assumed stops the preview; one that could
    not be judged (no role, the service down) is said as a warning."""
    for finding in findings:
        if finding.verdict == UNKNOWN:
            pulumi.log.warn(f"DataSphere contract (docs/datasphere-api.md): {finding}; assumed to hold")
    wrong = [finding for finding in findings if finding.verdict not in (HOLDS, UNKNOWN)]
    if not wrong:
        return []
    return [ConfigProblem("datasphereEndpoint", endpoint, (
        "does not answer the calls for nodes, aliases and project secrets as this stack assumes: "
        + "; ".join(map(str, wrong)) + ". DataSphere publishes no API for these; the stack follows the "
        "contract in docs/datasphere-api.md, and this platform differs from it, so no node could be "
        "created. Nothing was created. Fix: where DataSphere serves these calls at another address, "
        "pulumi config set datasphereEndpoint <url> (and nodeApiEndpoint, operationEndpoint for their "
        "parts); otherwise the contract needs correcting first: run python -m endpoint doctor and report "
        "its transcript"))]


def check_before_any_resource(settings: Settings, problems: Iterable[ConfigProblem],
                              hugging_face_token: str | None, cloud: bool = True) -> Checked:
    """Run every check the refused settings leave standing; raise one `ConfigError` with all problems.
    `cloud` False leaves out the reads of the cloud (an existing subnet or registry, the project): the
    offline check (components/check_config.py) without credentials."""
    found = list(problems)
    refused = {problem.key for problem in found}
    memory: dict[str, MemoryEstimate] = {}
    pinned: list[ModelSettings] = []
    for index, model in enumerate(settings.models):
        prefix = f"models[{index}]." if model.listed else ""
        if {key.removeprefix(prefix) for key in refused if key.startswith(prefix)} & PREFLIGHT_READS:
            continue
        checked, more = model_problems(model, hugging_face_token)
        if model.listed:
            more = [problem.in_entry(index, model.name, ENTRY_KEY_SET) for problem in more]
        found += more
        if checked is not None:
            memory[model.name] = checked.memory
            pinned.append(checked.model)
    existing_subnet = None
    if cloud and not refused & SUBNET_READS:
        existing_subnet, more = find_subnet(settings)
        found += more
    if cloud and "registryId" not in refused:
        found += registry_problems(settings)
    if cloud and "datasphereProjectId" not in refused:
        found += project_problems(settings, zone_checked="zone" not in refused)
    cost = None
    # The cap is judged on every node's configuration, known once each model passed its preflight.
    if len(pinned) == len(settings.models) and "maxUnitsPerHour" not in refused:
        cost, more = spend_cap_problems(settings, pinned)
        found += more
    if found:
        raise ConfigError(found)
    assert cost is not None, "the preflight ran for every model, since nothing was refused"
    return Checked(settings.model_copy(update={"models": tuple(pinned)}), memory, existing_subnet, cost)
