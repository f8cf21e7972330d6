"""The stack's service accounts, their roles and their registry logins.

- The node account is the DataSphere project's service account: `vpc.user` where the subnet is.
- The node's registry login (`nodeRegistryLogin`) sits in DataSphere, so it may only pull:
  `api_key`: `cloud-registry.artifacts.puller` on the registry for the node account, and an API key of
  it scoped to pulling only; `json_key`: a third account with that role and nothing else, and its
  authorized key (a key file grants all its account may do, so the account may do only this).
- The push account only pushes: `cloud-registry.artifacts.pusher` on the registry and an API key
  scoped to pushing, used by `pulumi up` on the deployer's machine and never given to DataSphere.
  Kept apart so that nothing running in the project, under the project's account, can push.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_yandex_marketmaker as yandex

from components import platform
from components.cloudregistry.access_binding import RegistryAccessBinding
from components.iam.api_key import ApiKey
from components.iam.authorized_key import key_json_of

# Yandex IAM is eventually consistent: a role granted a moment ago can still be refused by the
# registry. The binding waits this long after granting, before the push relies on it.
IAM_PROPAGATION_SECONDS = 15


@dataclass(frozen=True)
class IdentityArgs:
    """Where the accounts live, the registry they pull from and push to, the subnet's folder (its
    network roles), and how a node logs in to the registry."""

    folder_id: pulumi.Input[str]
    registry_id: pulumi.Input[str]
    subnet_folder_id: pulumi.Input[str]
    uses_nat_gateway: bool
    node_registry_login: str


class Identity(pulumi.ComponentResource):
    service_account: yandex.IamServiceAccount
    service_account_id: pulumi.Output[str]
    # What the node's registry login takes as its password (secret): a pull key's secret, or a key file.
    node_login_secret: pulumi.Output[str]
    push_key: ApiKey
    push_ready: list[pulumi.Resource]

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("vllm-datasphere:index:Identity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.service_account = yandex.IamServiceAccount(
            name, folder_id=args.folder_id, name=name,
            description="DataSphere project service account; pulls the vLLM image", opts=child,
        )
        self.service_account_id = self.service_account.id
        pusher = yandex.IamServiceAccount(
            f"{name}-push", folder_id=args.folder_id, name=f"{name}-push",
            description="Pushes the vLLM image to the stack's registry; never given to DataSphere",
            opts=child,
        )

        folder_roles = [platform.ROLE_VPC_USER]
        if args.uses_nat_gateway:
            folder_roles.append(platform.ROLE_VPC_GATEWAYS_USER)
        member = pulumi.Output.concat("serviceAccount:", self.service_account.id)
        for role in folder_roles:
            yandex.ResourcemanagerFolderIamMember(
                f"{name}-{role.replace('.', '-')}", folder_id=args.subnet_folder_id, role=role, member=member,
                opts=child,
            )

        self.node_login_secret = (self._json_key(name, args.folder_id, args.registry_id, child)
                                  if args.node_registry_login == "json_key"
                                  else self._api_key(name, args.registry_id, child))
        pushing = RegistryAccessBinding(f"{name}-pusher", registry_id=args.registry_id,
                                        role_id=platform.ROLE_REGISTRY_PUSHER, subject_id=pusher.id,
                                        settle_seconds=IAM_PROPAGATION_SECONDS, opts=child)
        self.push_key = ApiKey(f"{name}-push", service_account_id=pusher.id, scopes=[platform.SCOPE_PUSH],
                               description="vLLM image push by pulumi up (username api_key)", opts=child)
        self.push_ready = [pushing, self.push_key]
        self.register_outputs({"serviceAccountId": self.service_account_id})

    def _api_key(self, name: str, registry_id: pulumi.Input[str],
                 child: pulumi.ResourceOptions) -> pulumi.Output[str]:
        """The puller role for the node account, and its API key scoped to pulling only."""
        RegistryAccessBinding(f"{name}-puller", registry_id=registry_id,
                              role_id=platform.ROLE_REGISTRY_PULLER, subject_id=self.service_account.id,
                              opts=child)
        key = ApiKey(f"{name}-pull", service_account_id=self.service_account.id, scopes=[platform.SCOPE_PULL],
                     description="DataSphere node image pull (username api_key)", opts=child)
        return key.secret

    def _json_key(self, name: str, folder_id: pulumi.Input[str], registry_id: pulumi.Input[str],
                  child: pulumi.ResourceOptions) -> pulumi.Output[str]:
        """An account that may only pull, and its authorized key file."""
        puller = yandex.IamServiceAccount(
            f"{name}-node-pull", folder_id=folder_id, name=f"{name}-node-pull",
            description="Pulls the vLLM image for DataSphere nodes (username json_key); nothing else",
            opts=child,
        )
        RegistryAccessBinding(f"{name}-node-pull-puller", registry_id=registry_id,
                              role_id=platform.ROLE_REGISTRY_PULLER, subject_id=puller.id, opts=child)
        key = yandex.IamServiceAccountKey(f"{name}-node-pull", service_account_id=puller.id,
                                          description="DataSphere node image pull (username json_key)",
                                          key_algorithm="RSA_2048", opts=child)
        return key_json_of(key)
