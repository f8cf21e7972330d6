"""The service account the image is pushed and pulled with, its roles and its authorized key."""

from __future__ import annotations

import json

import pulumi
import pulumi_yandex_marketmaker as yandex

from components import platform

# Yandex IAM is eventually consistent: a role granted a moment ago can still be refused.
# The provider waits this long after each binding, before the image push relies on it.
IAM_PROPAGATION_SECONDS = 15


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


class Identity(pulumi.ComponentResource):
    service_account: yandex.IamServiceAccount
    service_account_id: pulumi.Output[str]
    pusher: yandex.ContainerRegistryIamBinding
    key_json: pulumi.Output[str]

    def __init__(self, name: str, folder_id: pulumi.Input[str], registry_id: pulumi.Input[str],
                 subnet_folder_id: pulumi.Input[str], uses_nat_gateway: bool,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("vllm-datasphere:index:Identity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.service_account = yandex.IamServiceAccount(
            name,
            folder_id=folder_id,
            name=name,
            description="Pushes and pulls the vLLM image; DataSphere project service account",
            opts=child,
        )
        self.service_account_id = self.service_account.id
        member = pulumi.Output.concat("serviceAccount:", self.service_account.id)

        # Bindings are authoritative for their role, which is safe here: the stack owns the registry.
        def on_registry(role: str, suffix: str) -> yandex.ContainerRegistryIamBinding:
            return yandex.ContainerRegistryIamBinding(
                f"{name}-{suffix}",
                registry_id=registry_id,
                role=role,
                members=[member],
                sleep_after=IAM_PROPAGATION_SECONDS,
                opts=child,
            )

        on_registry(platform.ROLE_IMAGE_PULLER, "puller")
        self.pusher = on_registry(platform.ROLE_IMAGE_PUSHER, "pusher")

        folder_roles = [platform.ROLE_VPC_USER]
        if uses_nat_gateway:
            folder_roles.append(platform.ROLE_VPC_GATEWAYS_USER)
        for role in folder_roles:
            yandex.ResourcemanagerFolderIamMember(
                f"{name}-{role.replace('.', '-')}",
                folder_id=subnet_folder_id,
                role=role,
                member=member,
                opts=child,
            )

        key = yandex.IamServiceAccountKey(
            name,
            service_account_id=self.service_account.id,
            description="Registry login (json_key) and DataSphere node image pull",
            key_algorithm="RSA_2048",
            opts=child,
        )
        self.key_json = key_json_of(key)
        self.register_outputs({"serviceAccountId": self.service_account_id, "keyJson": self.key_json})
