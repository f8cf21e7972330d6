"""Runs `__main__.py` under `pulumi.runtime.set_mocks` and records what it registers.

The config is assembled the way the engine does it: `Pulumi.yaml` defaults first, then the
stack's values. Every RegisterResource request is kept with its parent, dependencies and raw
(still secret-wrapped) inputs, so tests can check secrecy as the engine would see it. That is the one
thing the public Mocks API cannot show (its `new_resource` gets the inputs unwrapped, without parent
or dependencies), so the recording monitor extends the SDK's mock monitor, and the stack's exports are
read from its root resource.
"""

from __future__ import annotations

import hashlib
import json
import os
import runpy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml
from google.protobuf import json_format
from pulumi.runtime import mocks

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "vllm-datasphere"
# How the engine's wire format marks a secret: {SIG_KEY: SECRET_SIG, "value": ...} (Pulumi's
# "special signature" for secrets, sdk/go/common/resource/sig).
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
FAKE_PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nFAKE-PRIVATE-KEY-MATERIAL\n-----END PRIVATE KEY-----\n"
FAKE_PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----\nFAKE-PUBLIC\n-----END PUBLIC KEY-----\n"
BASE_CONFIG = {
    "yandex:cloudId": "b1gcloud000000000000",
    f"{PROJECT}:model": "Qwen/Qwen2.5-7B-Instruct",
    f"{PROJECT}:datasphereProjectId": "bt1project0000000000",
}


@dataclass(frozen=True)
class Secret:
    value: Any


def unwrap(raw: Any) -> Any:
    """Raw protobuf-JSON inputs with secrets as `Secret(...)`, the rest plain."""
    if isinstance(raw, dict):
        if raw.get(SIG_KEY) == SECRET_SIG:
            return Secret(unwrap(raw["value"]))
        return {k: unwrap(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [unwrap(v) for v in raw]
    return raw


def plain_strings(value: Any) -> list[str]:
    """Every string reachable without opening a `Secret`."""
    if isinstance(value, Secret):
        return []
    if isinstance(value, dict):
        return [s for v in value.values() for s in plain_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in plain_strings(v)]
    return [value] if isinstance(value, str) else []


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    dependencies: list[str]
    additional_secret_outputs: list[str]
    inputs: dict[str, Any]


def fake_id(type_: str, name: str) -> str:
    return "e" + hashlib.sha256(f"{type_}/{name}".encode()).hexdigest()[:19]


def fake_api_key_secret(name: str) -> str:
    """What the mocks hand out as the secret of the API key resource `name`."""
    return f"FAKE-API-KEY-SECRET-{name}"


API_KEY = "pulumi-python:dynamic/iam:ApiKey"
IMAGE = "docker-build:index:Image"


class FakeYandex(pulumi.runtime.Mocks):
    """Outputs shaped like the providers' (ids, key material, the pushed image's digest)."""

    def __init__(self, subnets: dict[str, dict[str, Any]], route_tables: dict[str, dict[str, Any]]):
        self.subnets = subnets
        self.route_tables = route_tables
        self.calls: list[str] = []
        self.created: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        if not args.custom:
            return None, {}
        id_ = fake_id(args.typ, args.name)
        outputs = dict(args.inputs)
        if args.typ == "yandex:index/iamServiceAccountKey:IamServiceAccountKey":
            outputs |= {"publicKey": FAKE_PUBLIC_KEY, "privateKey": FAKE_PRIVATE_KEY,
                        "createdAt": "2026-11-28T05:00:00Z", "keyAlgorithm": "RSA_2048"}
        if args.typ == IMAGE:
            built = json.dumps({key: args.inputs.get(key) for key in ("buildArgs", "dockerfile")},
                               sort_keys=True)
            outputs["digest"] = f"sha256:{hashlib.sha256(built.encode()).hexdigest()}"
        if args.typ == API_KEY:
            outputs["secret"] = fake_api_key_secret(args.name)
        self.created[(args.typ, args.name)] = (id_, outputs)
        return id_, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        self.calls.append(args.token)
        if args.token == "yandex:index/getVpcSubnet:getVpcSubnet":
            return self.subnets[args.args["subnetId"]]
        if args.token == "yandex:index/getVpcRouteTable:getVpcRouteTable":
            return self.route_tables[args.args["routeTableId"]]
        raise AssertionError(f"unexpected invoke {args.token}")


class RecordingMonitor(mocks.MockMonitor):
    def __init__(self, fake: FakeYandex, registrations: list[Registration]) -> None:
        super().__init__(fake)
        self.registrations = registrations

    def RegisterResource(self, request: Any) -> Any:
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(Registration(
                urn=self.make_urn(request.parent, request.type, request.name),
                type=request.type,
                name=request.name,
                parent=request.parent,
                custom=request.custom,
                dependencies=list(request.dependencies),
                additional_secret_outputs=list(request.additionalSecretOutputs),
                inputs=unwrap(json_format.MessageToDict(request.object)),
            ))
        return super().RegisterResource(request)


@dataclass
class ProgramRun:
    registrations: list[Registration]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    calls: list[str]
    # What the mocks answered for each custom resource, by (type, name): its id and outputs.
    created: dict[tuple[str, str], tuple[str, dict[str, Any]]]

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def one(self, type_: str) -> Registration:
        found = self.of_type(type_)
        assert len(found) == 1, f"expected one {type_}, got {[r.name for r in found]}"
        return found[0]

    def dynamic(self) -> list[Registration]:
        """The stack's own dynamic resources, in the order they were registered (dependencies first)."""
        return [r for r in self.registrations if r.type.startswith("pulumi-python:dynamic/")]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.registrations if r.urn == urn)


def project_defaults() -> dict[str, str]:
    """Pulumi.yaml defaults as the engine passes them: strings, arrays as JSON."""
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    defaults = {}
    for key, spec in declared.items():
        if "default" in spec:
            value = spec["default"]
            defaults[f"{PROJECT}:{key}"] = value if isinstance(value, str) else json.dumps(value)
    return defaults


def run_program(config: dict[str, Any] | None = None, *, preview: bool = False,
                subnets: dict[str, dict[str, Any]] | None = None,
                route_tables: dict[str, dict[str, Any]] | None = None,
                registrations: list[Registration] | None = None) -> ProgramRun:
    """Run the program; `registrations`, when given, keeps what was registered even if it fails."""
    merged = project_defaults() | BASE_CONFIG
    for key, value in (config or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value if isinstance(value, str) else json.dumps(value)
    pulumi.runtime.set_all_config(merged)

    fake = FakeYandex(subnets or {}, route_tables or {})
    monitor = RecordingMonitor(fake, registrations if registrations is not None else [])
    pulumi.runtime.reset_options(project=PROJECT, stack="dev", preview=preview)
    pulumi.runtime.set_mocks(fake, project=PROJECT, stack="dev", preview=preview, monitor=monitor)
    result: dict[str, Any] = {}

    def program() -> pulumi.Output[Any]:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")
        exported = pulumi.runtime.get_root_resource().outputs

        async def resolve() -> None:
            for name, value in exported.items():
                output = pulumi.Output.from_input(value)
                result[name] = (await output.future(with_unknowns=True), await output.is_secret())

        return pulumi.Output.from_input(resolve())

    # The engine hands a program its config in PULUMI_CONFIG, which is where the program lists the keys.
    passed = os.environ.get("PULUMI_CONFIG")
    os.environ["PULUMI_CONFIG"] = json.dumps(merged)
    try:
        pulumi.runtime.test(program)()
    finally:
        if passed is None:
            os.environ.pop("PULUMI_CONFIG", None)
        else:
            os.environ["PULUMI_CONFIG"] = passed
    return ProgramRun(
        registrations=monitor.registrations,
        outputs={name: value for name, (value, _) in result.items()},
        secret_outputs={name for name, (_, secret) in result.items() if secret},
        calls=fake.calls,
        created=fake.created,
    )
