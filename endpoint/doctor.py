"""python -m endpoint doctor: does this account answer as the stack assumes? Nothing is created.

With the deployer's credentials and the stack's config (Pulumi.yaml and Pulumi.<stack>.yaml, read as
files: no Pulumi CLI), it checks every assumption `pulumi up` rests on, published and not: the IAM token
exchange, the DataSphere project and its settings, its community's zone, the unpublished calls for nodes,
aliases and project secrets (docs/datasphere-api.md), the Cloud Registry API, node-api's answer for a node
that does not exist, and the Hugging Face Hub. One line each: holds, differs, no such call, or cannot
tell. Every exchange goes to a transcript with every token, key and secret removed, to attach to a bug
report. Exit codes: 0 every assumption holds; 1 one differs (a `pulumi up` would fail); 2 none differs
but one could not be told (no credentials, no role, the service down).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from components.cloud.credentials import CredentialsError, token_source
from components.cloud.endpoints import NAMESPACE, endpoints_from
from components.cloud.http import ApiError, HttpAnswer, Timing, observed
from components.cloudregistry.api import CloudRegistryClient
from components.config_files import stack_config
from components.datasphere.api import DatasphereClient
from components.datasphere.contract import (
    DIFFERS,
    HOLDS,
    MISSING,
    UNKNOWN,
    Finding,
    answer_of,
    check_contract,
    verdict_of,
)
from components.hub import HubAccess, HubAccessError, load_model_facts

BOGUS_NODE = "doctor-no-such-node"
REMOVED = "[removed]"
# JSON fields whose values are secrets, and token shapes that may stand anywhere in a text.
SECRET_FIELDS = re.compile(r"token|secret|password|private|jwt|key$", re.IGNORECASE)
SECRET_SHAPES = re.compile(r"(t1\.[\w.-]+|y[0-3]_[\w-]+|AQVN[\w-]+|hf_\w+|eyJ[\w.-]+|"
                           r"-----BEGIN[\s\S]*?-----END [A-Z ]+-----)")


def scrub(value: Any) -> Any:
    """The value with every secret field's value and every token-shaped text removed."""
    if isinstance(value, dict):
        return {k: REMOVED if SECRET_FIELDS.search(k) and v else scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(item) for item in value]
    if isinstance(value, str):
        return SECRET_SHAPES.sub(REMOVED, value)
    return value


@dataclass
class Transcript:
    entries: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, method: str, url: str, answer: HttpAnswer | None, failure: str | None) -> None:
        entry: dict[str, Any] = {"request": scrub(f"{method} {url}")}
        if answer is not None:
            entry |= {"status": answer.status, "body": scrub(answer.body if answer.body is not None
                                                             else answer.text[:500])}
        else:
            entry["failure"] = scrub(failure or "")
        self.entries.append(entry)

    def write(self, path: Path, assumptions: list[Finding]) -> None:
        path.write_text(json.dumps({"assumptions": [a.__dict__ for a in assumptions],
                                    "exchanges": self.entries}, indent=2) + "\n")


def _answer_of(error: ApiError) -> str:
    return scrub(answer_of(error))


def _api(what: str, call: Callable[[], Any], judge: Callable[[Any], tuple[str, str]]) -> Finding:
    """One published call: holds or differs by its answer; a refusal of access or an outage cannot tell."""
    try:
        return Finding(what, *judge(call()))
    except ApiError as error:
        return Finding(what, verdict_of(error), _answer_of(error))
    except ConnectionError as error:
        return Finding(what, UNKNOWN, str(error))


def _project_shape(project: Any) -> tuple[str, str]:
    if not isinstance(project, dict) or not {"id", "settings"} <= set(project):
        shown = sorted(project) if isinstance(project, dict) else project
        return DIFFERS, f"an answer without id and settings: {shown}"
    settings = project.get("settings") or {}
    return HOLDS, (f"community {project.get('communityId')}, service account "
                   f"{settings.get('serviceAccountId') or 'none'}, default folder "
                   f"{settings.get('defaultFolderId') or 'none'}, subnet "
                   f"{settings.get('subnetId') or 'none'}")


def _node_api(client: DatasphereClient, folder_id: str) -> Finding:
    """node-api routes by header: a node that does not exist gets an HTTP refusal, not an outage."""
    what = "node-api answers for a node that does not exist (GET /v1/models, x-node-id)"
    try:
        answer = client.probe_models(folder_id, BOGUS_NODE)
    except ConnectionError as error:
        return Finding(what, UNKNOWN, str(error))
    seen = f"HTTP {answer.status} {scrub(answer.text[:120])!r}"
    return Finding(what, HOLDS if 400 <= answer.status < 500 else DIFFERS, seen)


def _hub(model: str) -> Finding:
    what = f"the Hugging Face Hub answers for {model}"
    try:
        loaded = load_model_facts(model, HubAccess.from_environment(os.environ.get("HF_TOKEN")))
    except HubAccessError as error:
        return Finding(what, HOLDS, f"it answers, and refuses: {scrub(str(error))[:160]}")
    if loaded.origin == "hub":
        return Finding(what, HOLDS, f"commit {loaded.revision}")
    return Finding(what, UNKNOWN, loaded.unavailable_reason or "not reached")


def run_doctor(config: Mapping[str, str], env: Mapping[str, str], timing: Timing | None = None
               ) -> tuple[list[Finding], Transcript]:
    """Every assumption, judged; and the transcript of what was said."""
    transcript = Transcript()
    endpoints = endpoints_from(config)
    timing = timing or Timing()
    project_id = config.get(f"{NAMESPACE}:datasphereProjectId", "")
    model = config.get(f"{NAMESPACE}:model") or "Qwen/Qwen2.5-7B-Instruct"
    found: list[Finding] = []
    with observed(transcript):
        try:
            source = token_source(config.get, env, endpoints, timing)
            source()
            found.append(Finding("an IAM token from the credentials", HOLDS, "obtained"))
        except CredentialsError as error:
            found.append(Finding("an IAM token from the credentials", UNKNOWN, str(error)))
        except ApiError as error:
            found.append(Finding("an IAM token from the credentials", DIFFERS, _answer_of(error)))
        if found[-1].verdict == HOLDS:
            datasphere = DatasphereClient(endpoints, source, timing)
            project: dict[str, Any] = {}

            def read_project() -> Any:
                project.update(datasphere.get_project(project_id))
                return project

            found.append(_api(f"DataSphere project {project_id or '(datasphereProjectId unset)'} and its "
                              "settings", read_project, _project_shape))
            if found[-1].verdict == HOLDS:
                community = project.get("communityId", "")
                found.append(_api(f"its community {community} and zone",
                                  lambda: datasphere.get_community(community),
                                  lambda c: (HOLDS, f"zone {c.get('zoneId') or 'not given'}")))
                found += check_contract(datasphere, project_id)
                folder = config.get(f"{NAMESPACE}:folderId") or (project.get("settings") or {}).get(
                    "defaultFolderId", "")
                registries = CloudRegistryClient(endpoints, source, timing)
                found.append(_api(f"the Cloud Registry API (registries of folder {folder or '?'})",
                                  lambda: registries.list_registries(folder),
                                  lambda items: (HOLDS, f"{len(items)} registries")) if folder else
                             Finding("the Cloud Registry API", UNKNOWN, "no folder: set folderId"))
                found.append(_node_api(datasphere, folder))
        found.append(_hub(model))
    return found, transcript


def exit_code(assumptions: list[Finding]) -> int:
    verdicts = {a.verdict for a in assumptions}
    if verdicts & {DIFFERS, MISSING}:
        return 1
    return 2 if UNKNOWN in verdicts else 0


def doctor(project_dir: Path, stack: str, transcript_path: Path, env: Mapping[str, str], out: TextIO,
           timing: Timing | None = None) -> int:
    config = stack_config(project_dir, stack)
    assumptions, transcript = run_doctor(config, env, timing)
    for finding in assumptions:
        out.write(f"{finding.verdict:13} {finding.what}: {finding.seen}\n")
    transcript.write(transcript_path, assumptions)
    code = exit_code(assumptions)
    verdict = {0: "pulumi up can be expected to work", 1: "pulumi up would fail where a line says differs "
               "or no such call", 2: "some assumptions could not be told"}[code]
    out.write(f"{verdict}. Transcript, with every token and secret removed: {transcript_path}\n")
    return code
