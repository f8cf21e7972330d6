"""Forget a stack's Container Registry resources in an exported state, so the next `up` can move on.

Stacks created before the move to Cloud Registry hold a Container Registry and its two role
bindings. Container Registry is read-only since 2026-11-10 and switched off on 2026-12-14, so
`pulumi up` could not delete them: this takes them out of the state (the cloud keeps them until
the switch-off) and removes every reference to them from the resources that stay. Secrets are
not opened: values pass through as exported.

Usage: python -m scripts.forget_container_registry <exported.json> <to-import.json>
Exit status 0 with the resources forgotten listed, 3 when there is nothing to forget.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RETIRED_TYPES = frozenset({
    "yandex:index/containerRegistry:ContainerRegistry",
    "yandex:index/containerRegistryIamBinding:ContainerRegistryIamBinding",
})
NOTHING_TO_FORGET = 3


class StateError(Exception):
    """The state cannot be changed safely; the message says why."""


def _without(urns: list[str], gone: set[str]) -> list[str]:
    return [urn for urn in urns if urn not in gone]


def forget(state: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The state without the Container Registry resources, and the resources taken out."""
    deployment = state["deployment"]
    resources = deployment.get("resources") or []
    retired = [r for r in resources if r["type"] in RETIRED_TYPES]
    gone = {r["urn"] for r in retired}
    pending = [op for op in deployment.get("pending_operations") or [] if op["resource"]["urn"] in gone]
    if pending:
        raise StateError(f"an operation on {pending[0]['resource']['urn']} did not finish: run "
                         "`pulumi refresh` (or `pulumi cancel`) first")
    kept = []
    for resource in resources:
        if resource["urn"] in gone:
            continue
        if resource.get("parent") in gone:
            raise StateError(f"{resource['urn']} is a child of a Container Registry resource")
        resource = dict(resource)
        resource["dependencies"] = _without(resource.get("dependencies") or [], gone)
        if resource.get("propertyDependencies"):
            resource["propertyDependencies"] = {
                key: _without(urns, gone) for key, urns in resource["propertyDependencies"].items()}
        if resource.get("deletedWith") in gone:
            del resource["deletedWith"]
        kept.append(resource)
    return {**state, "deployment": {**deployment, "resources": kept}}, retired


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    source, target = map(Path, argv)
    try:
        state, retired = forget(json.loads(source.read_text()))
    except (StateError, KeyError, json.JSONDecodeError) as error:
        print(f"forget_container_registry: cannot change {source}: {error}", file=sys.stderr)
        return 1
    if not retired:
        print("No Container Registry resources in this stack: nothing to forget.")
        return NOTHING_TO_FORGET
    target.write_text(json.dumps(state, indent=2))
    print("Forgotten (left in the cloud until Container Registry is switched off on 2026-12-14):")
    for resource in retired:
        print(f"  {resource['type'].rsplit(':', 1)[1]} {resource.get('id', '')}  ({resource['urn']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
