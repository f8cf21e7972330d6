"""The rules of the policy pack. Each validator looks at one resource and says what is wrong and the fix.

Self-contained on purpose: the Pulumi CLI runs the pack from this folder, where the project's own
modules are not importable. `tests/test_policy.py` checks that the type tokens below are the
ones the program registers.

A validator sees inputs with secrets already unwrapped (pulumi-policy 1.21 `Analyze`), so it
cannot tell a secret from a plain value. Secrecy is therefore checked where it is visible: the
`additional_secret_outputs` option of the keys (service-account keys, registry API keys) and the
DataSphere secret, and, for the registry password, a remediation, which does see secrets and turns a
plain password into a secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
)

NODE = "pulumi-python:dynamic/datasphere:Node"
PROJECT_SETTINGS = "pulumi-python:dynamic/datasphere:ProjectSettings"
DATASPHERE_SECRET = "pulumi-python:dynamic/datasphere:Secret"  # noqa: S105 - a type token
SERVICE_ACCOUNT_KEY = "yandex:index/iamServiceAccountKey:IamServiceAccountKey"
API_KEY = "pulumi-python:dynamic/iam:ApiKey"
IMAGE = "docker-build:index:Image"
WIDE_GRANTS = {
    "yandex:index/resourcemanagerFolderIamMember:ResourcemanagerFolderIamMember": "folder",
    "yandex:index/resourcemanagerFolderIamBinding:ResourcemanagerFolderIamBinding": "folder",
    "yandex:index/resourcemanagerCloudIamMember:ResourcemanagerCloudIamMember": "cloud",
    "yandex:index/resourcemanagerCloudIamBinding:ResourcemanagerCloudIamBinding": "cloud",
}
SECRET_OUTPUTS = {SERVICE_ACCOUNT_KEY: "privateKey", DATASPHERE_SECRET: "content", API_KEY: "secret"}
REGISTRY_ROLE_PREFIX = "cloud-registry."
REGISTRY_HOST = "registry.yandexcloud.net"
DIGEST_PINNED = re.compile(rf"^{re.escape(REGISTRY_HOST)}/[a-z0-9]+/[a-z0-9._/-]+@sha256:[0-9a-f]{{64}}$")
DEFAULT_ALLOWED_SPECS = ("gt4.1", "gt4i.1", "g2.1", "g2.2")


def node_image_is_digest_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != NODE:
        return
    image = args.props.get("image")
    if not isinstance(image, str) or not DIGEST_PINNED.match(image):
        report(f"node {args.name} runs {image!r}, which is not an image in Cloud Registry pinned by digest. "
               "A tag can be moved to an image nobody reviewed, a rebuilt image under the same tag does not "
               "replace the node, and only Cloud Registry serves the node's pull key. Fix: give the node the "
               f"pushed image's digest ({REGISTRY_HOST}/<registryId>/<image>@sha256:...)", None)


def key_material_is_secret(args: ResourceValidationArgs, report: ReportViolation) -> None:
    output = SECRET_OUTPUTS.get(args.resource_type)
    if output is not None and output not in (args.opts.additional_secret_outputs or []):
        report(f"{args.name} does not mark {output} secret, so the state would keep it in plain text. "
               f"Fix: create it with additional_secret_outputs=[{output!r}]", None)


def _unproxied(value: Any) -> Any:
    """The raw value behind the SDK's proxies, where secrets are still wrapped in `Secret`."""
    while isinstance(value, Mapping) and not isinstance(value, dict):
        value = value["__target"]
    return value


def registry_password_is_secret(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    """Make a plain registry password a secret; None when each already is one (or there is none)."""
    if args.resource_type != IMAGE:
        return None
    props = _unproxied(args.props)
    registries = _unproxied(props.get("registries"))
    if not isinstance(registries, list):
        return None
    changed = False
    for index, registry in enumerate(registries):
        registry = registries[index] = _unproxied(registry)
        password = registry.get("password") if isinstance(registry, dict) else None
        if password is not None and not isinstance(password, Secret):
            registry["password"] = Secret(password)
            changed = True
    return props if changed else None


def build_secrets_are_secret(args: ResourceValidationArgs) -> Mapping[str, Any] | None:
    """Make a plain build secret (the Hugging Face token) a secret; None when each already is one."""
    if args.resource_type != IMAGE:
        return None
    props = _unproxied(args.props)
    secrets = _unproxied(props.get("secrets"))
    if not isinstance(secrets, dict):
        return None
    plain = {name: value for name, value in secrets.items() if not isinstance(value, Secret)}
    if not plain:
        return None
    props["secrets"] = {**secrets, **{name: Secret(value) for name, value in plain.items()}}
    return props


def registry_roles_stay_on_the_registry(args: ResourceValidationArgs, report: ReportViolation) -> None:
    scope = WIDE_GRANTS.get(args.resource_type)
    if scope is None:
        return
    role = args.props.get("role")
    if isinstance(role, str) and role.startswith(REGISTRY_ROLE_PREFIX):
        report(f"{args.name} grants {role} on the whole {scope}, which opens every registry in it. "
               "Fix: grant it on the registry (RegistryAccessBinding in components/identity.py)", None)


def instance_spec_is_allowed(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != NODE:
        return
    allowed = list(args.get_config().get("allowedInstanceSpecs") or DEFAULT_ALLOWED_SPECS)
    spec = args.props.get("instanceSpec")
    if spec not in allowed:
        report(f"node {args.name} asks for {spec!r}, which this repository's policy does not allow "
               f"(allowed: {', '.join(allowed)}). Fix: pulumi config set instanceSpec <one of them>, or "
               "add it to allowedInstanceSpecs in policy/config.json in a reviewed change", None)


def _number(value: Any) -> float | None:
    """A number as it crosses the engine's protobuf boundary (a float), or None."""
    return None if isinstance(value, bool) or not isinstance(value, int | float) else value


def _shown(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def project_has_a_spend_cap(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A cap, and one the stack's own nodes run under: `minUnitsPerHour` is what they use in an hour
    during a rollout (components/cost.py), which a lower cap would stop."""
    if args.resource_type != PROJECT_SETTINGS:
        return
    cap = _number(args.props.get("maxUnitsPerHour"))
    needed = _number(args.props.get("minUnitsPerHour")) or 0
    project = args.props.get("projectId")
    if cap is None or cap <= 0:
        given = _shown(args.props.get("maxUnitsPerHour"))
        report(f"DataSphere project {project} gets no spend cap (maxUnitsPerHour = {given!r}): a forgotten "
               f"node bills until someone notices. Fix: pulumi config set maxUnitsPerHour "
               f"{_shown(needed) or '<billing units an hour>'} (what the stack's nodes use in an hour "
               "during a rollout; the preview prints it)", None)
    elif cap < needed:
        report(f"DataSphere project {project} gets a spend cap of {_shown(cap)} units an hour, below the "
               f"{_shown(needed)} its nodes use during a rollout: DataSphere would stop them. Fix: pulumi "
               f"config set maxUnitsPerHour {_shown(needed)}", None)


POLICIES: list[ResourceValidationPolicy] = [
    ResourceValidationPolicy(
        name="node-image-digest-pinned",
        description="The DataSphere node runs an image in Cloud Registry, pinned by digest.",
        validate=node_image_is_digest_pinned,
    ),
    ResourceValidationPolicy(
        name="key-material-secret",
        description="Service-account keys, registry API keys and DataSphere secrets are stored as secrets.",
        validate=key_material_is_secret,
    ),
    ResourceValidationPolicy(
        name="registry-password-secret",
        description="The registry password (the push API key) is a secret.",
        remediate=registry_password_is_secret,
        enforcement_level=EnforcementLevel.REMEDIATE,
    ),
    ResourceValidationPolicy(
        name="build-secrets-secret",
        description="The image build's secrets (the Hugging Face token) are secrets.",
        remediate=build_secrets_are_secret,
        enforcement_level=EnforcementLevel.REMEDIATE,
    ),
    ResourceValidationPolicy(
        name="registry-roles-on-registry",
        description="Cloud Registry roles are granted on the registry, never on a folder or cloud.",
        validate=registry_roles_stay_on_the_registry,
    ),
    ResourceValidationPolicy(
        name="allowed-instance-specs",
        description="The node's configuration is one the team allows.",
        validate=instance_spec_is_allowed,
        config_schema=PolicyConfigSchema(properties={
            "allowedInstanceSpecs": {"type": "array", "items": {"type": "string"},
                                     "default": list(DEFAULT_ALLOWED_SPECS)},
        }),
    ),
    ResourceValidationPolicy(
        name="project-spend-cap",
        description="The DataSphere project has a spend cap, and one its nodes can run under.",
        validate=project_has_a_spend_cap,
    ),
]
