"""What a client of the endpoint needs: the headers, a curl line, and optionally its own identity."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_yandex_marketmaker as yandex

from components import platform
from components.datasphere.access_binding import ProjectAccessBinding
from components.iam.authorized_key import key_json_of

EXAMPLE_PROMPT = "Say hello in one sentence."


def curl_example(endpoint_url: str, headers: Mapping[str, str], model: str) -> str:
    """A chat completion to paste into a shell; the token comes from `yc iam create-token`."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": EXAMPLE_PROMPT}],
                       "max_tokens": 64})
    lines = [f"curl -sS {shlex.quote(endpoint_url + '/chat/completions')}",
             '-H "Authorization: Bearer $(yc iam create-token)"',
             *(f"-H {shlex.quote(f'{name}: {value}')}" for name, value in headers.items()),
             "-H 'Content-Type: application/json'",
             f"-d {shlex.quote(body)}"]
    return " \\\n  ".join(lines)


@dataclass(frozen=True)
class ClientAccessArgs:
    """The folder the client's account lives in, and the project it may call."""

    folder_id: pulumi.Input[str]
    project_id: str


class ClientAccess(pulumi.ComponentResource):
    """A service account that may call the endpoint and nothing else, and its authorized key."""

    service_account_id: pulumi.Output[str]
    key_json: pulumi.Output[str]

    def __init__(self, name: str, args: ClientAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("vllm-datasphere:index:ClientAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        folder_id, project_id = args.folder_id, args.project_id
        account = yandex.IamServiceAccount(
            name, folder_id=folder_id, name=name,
            description=f"Calls the vLLM endpoint: {platform.ROLE_DATASPHERE_DEVELOPER} on the project only",
            opts=child,
        )
        ProjectAccessBinding(f"{name}-developer", project_id=project_id,
                             role_id=platform.ROLE_DATASPHERE_DEVELOPER, subject_id=account.id,
                             opts=child)
        key = yandex.IamServiceAccountKey(name, service_account_id=account.id,
                                          description="Client of the vLLM endpoint",
                                          key_algorithm="RSA_2048", opts=child)
        self.service_account_id = account.id
        self.key_json = key_json_of(key)
        self.register_outputs({"serviceAccountId": self.service_account_id, "keyJson": self.key_json})
