"""A provider host in a fresh process, and a small engine that drives it as `pulumi up` would.

`ProviderHost` starts the SDK's own dynamic provider host (`python -m pulumi.dynamic`, what the
engine starts) at the project root and calls it over gRPC: providers are unpickled from
`__provider`, configured with the stack config and called exactly as under `pulumi up`. `Engine` keeps
the state between calls and applies the engine's rules: check, then diff; a replacement is
created first and the old resource deleted at the end of the update (create-before-delete).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from tests.program import ROOT, ProgramRun, Registration, Secret

URN = "urn:pulumi:dev::vllm-datasphere::pulumi-python:dynamic/datasphere:Resource::test"


class ProviderError(Exception):
    """A provider call failed; the text is what the engine would show."""


def engine_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """Inputs as the engine sends them to a provider that does not accept secrets: plain."""
    def plain(value: Any) -> Any:
        if isinstance(value, Secret):
            return plain(value.value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value
    return plain(inputs)


def dynamic_inputs(run: ProgramRun, type_name: str, module: str = "datasphere") -> dict[str, Any]:
    return engine_inputs(run.one(f"pulumi-python:dynamic/{module}:{type_name}").inputs)


def state_name(registration: Registration) -> str:
    """How the engine below names a program's resource: its type's last part and its name."""
    return f"{registration.type.rsplit(':', 1)[1]}:{registration.name}"


def substitute(value: Any, table: dict[str, str]) -> Any:
    if isinstance(value, str):
        for mock, real in table.items():
            value = value.replace(mock, real)
        return value
    if isinstance(value, dict):
        return {k: substitute(v, table) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, table) for v in value]
    return value


def struct(props: dict[str, Any]) -> struct_pb2.Struct:
    loop = asyncio.new_event_loop()  # not asyncio.run: that would unset the mocks' loop
    try:
        return loop.run_until_complete(rpc.serialize_properties(props, {}))
    finally:
        loop.close()


def plain(message: struct_pb2.Struct) -> dict[str, Any]:
    return rpc.deserialize_properties(message, keep_unknowns=True)


class ProviderHost:
    """`python -m pulumi.dynamic` at the project root, spoken to over gRPC like the engine does."""

    def __init__(self, config: dict[str, str], env: dict[str, str]) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("YC_", "PULUMI_"))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pulumi.dynamic"], cwd=ROOT,
            env={**clean, "PULUMI_PROJECT": "vllm-datasphere", **env},
            stdout=subprocess.PIPE, text=True,
        )
        assert self.process.stdout is not None
        port = int(self.process.stdout.readline())
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)
        self.stub.Configure(provider_pb2.ConfigureRequest(args=struct(config)))

    def call(self, op: str, **request: Any) -> dict[str, Any]:
        try:
            return getattr(self, f"_{op}")(**request)
        except grpc.RpcError as error:
            raise ProviderError(error.details()) from None

    def _check(self, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        result = self.stub.Check(provider_pb2.CheckRequest(urn=URN, olds=struct(olds), news=struct(news)))
        return {"inputs": plain(result.inputs),
                "failures": [{"property": f.property, "reason": f.reason} for f in result.failures]}

    def _diff(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        request = provider_pb2.DiffRequest(id=id, urn=URN, olds=struct(olds), news=struct(news))
        result = self.stub.Diff(request)
        return {"changes": result.changes == provider_pb2.DiffResponse.DIFF_SOME,
                "replaces": list(result.replaces), "deleteBeforeReplace": result.deleteBeforeReplace}

    def _create(self, properties: dict[str, Any]) -> dict[str, Any]:
        result = self.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=struct(properties)))
        return {"id": result.id, "properties": plain(result.properties)}

    def _read(self, id: str, properties: dict[str, Any],
              inputs: dict[str, Any] | None = None) -> dict[str, Any]:
        """A refresh passes the state in `properties`; an import or `get` passes only `inputs`."""
        request = provider_pb2.ReadRequest(id=id, urn=URN, properties=struct(properties),
                                           inputs=struct(inputs or {}))
        result = self.stub.Read(request)
        return {"id": result.id, "properties": plain(result.properties)}

    def _update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        result = self.stub.Update(provider_pb2.UpdateRequest(id=id, urn=URN, olds=struct(olds),
                                                             news=struct(news)))
        return {"properties": plain(result.properties)}

    def _delete(self, id: str, properties: dict[str, Any]) -> dict[str, Any]:
        self.stub.Delete(provider_pb2.DeleteRequest(id=id, urn=URN, properties=struct(properties)))
        return {}

    def close(self) -> None:
        self.channel.close()
        self.process.terminate()
        self.process.wait(timeout=30)


@dataclass
class Managed:
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]


@dataclass
class Engine:
    host: ProviderHost
    state: dict[str, Managed] = field(default_factory=dict)
    pending_deletes: list[Managed] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)
    # What the mocks made up (ids, API key secrets) -> what the fake made, for the next inputs.
    real_values: dict[str, str] = field(default_factory=dict)

    def program_inputs(self, run: ProgramRun, registration: Registration) -> dict[str, Any]:
        """A resource's inputs as the engine would send them in the real run: plain, with the values
        that the mocks made up replaced by what the fake made. The push binding's IAM settle wait is
        set to 0 here (tests/test_cloud_registry_providers.py checks it on a virtual clock)."""
        inputs = substitute(engine_inputs(registration.inputs), self.real_values)
        if "settleSeconds" in inputs:
            inputs["settleSeconds"] = 0
        return inputs

    def real(self, value: Any) -> Any:
        """A program output as it would read after the real run (mock ids replaced by the fake's)."""
        return substitute(value, self.real_values)

    def up_registration(self, run: ProgramRun, registration: Registration, *, replace: bool = False) -> str:
        """Apply one of the program's resources and learn the real values behind its mock ones."""
        name = state_name(registration)
        what = self.up(name, self.program_inputs(run, registration), replace=replace)
        mock_id, mock_outputs = run.created[(registration.type, registration.name)]
        real = self.state[name]
        self.real_values[mock_id] = real.id
        for key, mock in mock_outputs.items():
            made_up = isinstance(mock, str) and mock != registration.inputs.get(key)
            if made_up and isinstance(real.outputs.get(key), str):
                self.real_values[mock] = real.outputs[key]
        return what

    def up_program(self, run: ProgramRun, types: tuple[str, ...] = (), replace: tuple[str, ...] = ()
                   ) -> dict[str, str]:
        """One `pulumi up` of the program's dynamic resources (or those of `types`), in the order the
        program registered them, which is their dependency order; replaced ones are deleted at the end.
        `replace` names resources to replace as `pulumi up --replace` does. When the whole program is
        applied, what the state holds and the program no longer declares is deleted at the end."""
        done = {}
        for registration in run.dynamic():
            if types and registration.type.rsplit(":", 1)[1] not in types:
                continue
            name = state_name(registration)
            done[name] = self.up_registration(run, registration, replace=name in replace)
        self.finish()
        if not types:
            for name in [n for n in reversed(self.state) if n not in done]:
                self.destroy([name])
                done[name] = self._note(name, "deleted")
        return done

    def destroy_all(self) -> None:
        """`pulumi destroy`: everything, dependents first (the reverse of creation)."""
        self.destroy(list(reversed(self.state)))

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        result = self.host.call("check", olds=olds, news=news)
        if result["failures"]:
            raise ProviderError("; ".join(f"{f['property']}: {f['reason']}" for f in result["failures"]))
        return result["inputs"]

    def up(self, name: str, news: dict[str, Any], *, replace: bool = False) -> str:
        """Apply one resource; returns what happened: created, same, updated or replaced.
        `replace` is `pulumi up --replace <urn>`: a replacement whatever the diff says."""
        old = self.state.get(name)
        inputs = self.check(old.inputs if old else {}, news)
        if old is None:
            self.state[name] = self._create(inputs)
            return self._note(name, "created")
        diff = self.host.call("diff", id=old.id, olds=old.outputs, news=inputs)
        if diff["replaces"] or replace:
            if diff["deleteBeforeReplace"]:
                self.host.call("delete", id=old.id, properties=old.outputs)
            else:
                self.pending_deletes.append(old)
            self.state[name] = self._create(inputs)
            return self._note(name, "replaced")
        if not diff["changes"]:
            return self._note(name, "same")
        result = self.host.call("update", id=old.id, olds=old.outputs, news=inputs)
        self.state[name] = Managed(old.id, inputs, result["properties"])
        return self._note(name, "updated")

    def finish(self) -> None:
        """The end of an update: replaced resources are deleted now."""
        while self.pending_deletes:
            old = self.pending_deletes.pop(0)
            self.host.call("delete", id=old.id, properties=old.outputs)

    def refresh(self, name: str) -> str:
        current = self.state[name]
        result = self.host.call("read", id=current.id, properties=current.outputs)
        if not result["id"]:
            del self.state[name]
            return self._note(name, "gone")
        self.state[name] = Managed(result["id"], current.inputs, result["properties"])
        return self._note(name, "refreshed")

    def destroy(self, order: list[str]) -> None:
        for name in order:
            managed = self.state.pop(name)
            self.host.call("delete", id=managed.id, properties=managed.outputs)

    def _create(self, inputs: dict[str, Any]) -> Managed:
        result = self.host.call("create", properties=inputs)
        return Managed(result["id"], inputs, result["properties"])

    def _note(self, name: str, what: str) -> str:
        self.log.append((name, what))
        return what
