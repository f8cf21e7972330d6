"""What a client of the endpoint needs: the headers, a curl line, and optionally its own identity."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping

import pulumi
import pulumi_yandex_marketmaker as yandex

from components import platform
from components.datasphere.access_binding import ProjectAccessBinding

EXAMPLE_PROMPT = "Say hello in one sentence."


def authorized_key_json(key_id: str, service_account_id: str, created_at: str,
                        key_algorithm: str, public_key: str, private_key: str) -> str:
    """The key file exactly as `yc iam key create` writes it (IAM docs, authorized-key/create)."""
    return json.dumps({
        "id": key_id,
        "service_account_id": service_account_id,
        "created_at": created_at,
        "key_algorithm": key_algorithm,
        "public_key": public_key,
        "private_key": private_key,
    }, indent=2)


def key_json_of(key: yandex.IamServiceAccountKey) -> pulumi.Output[str]:
    """The key's file contents, secret: it holds the private key."""
    return pulumi.Output.secret(
        pulumi.Output.all(key.id, key.service_account_id, key.created_at, key.key_algorithm,
                          key.public_key, key.private_key)
        .apply(lambda parts: authorized_key_json(*parts))
    )


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


class ClientAccess(pulumi.ComponentResource):
    """A service account that may call the endpoint and nothing else, and its authorized key."""

    service_account_id: pulumi.Output[str]
    key_json: pulumi.Output[str]

    def __init__(self, name: str, folder_id: pulumi.Input[str], project_id: str,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("vllm-datasphere:index:ClientAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
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
