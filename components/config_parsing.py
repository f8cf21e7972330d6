"""The problems a config can have, collected for one error at preview, and what their messages share.

Nothing stops at the first bad value: each becomes a `ConfigProblem` (the key, the value and a message
that ends in the fix), so one preview lists everything. Problems of an entry of `models` are scoped to
it (`ConfigProblem.in_entry`): their keys and fix commands then name the entry's path.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import pulumi

from components import platform
from components.cloud.endpoints import NAMESPACE

RawConfig = Mapping[str, str | None]

RESOURCE_NAME = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")
RETIRED_CONTAINER_REGISTRY = (
    f"is on Container Registry ({platform.RETIRED_REGISTRY_HOST}), which is read-only since 2026-11-10 and "
    "switched off on 2026-12-14: nothing can be pushed there, and nodes will not pull from it."
)
_CLOUD_ID = re.compile(r"^[a-z][a-z0-9]{19}$")
# Where a user finds each id the config takes.
ID_SOURCES = {
    "yandex:cloudId": "`yc resource-manager cloud list`",
    "folderId": "`yc resource-manager folder list`",
    "subnetId": "`yc vpc subnet list`",
    "datasphereProjectId": "the DataSphere project page",
}
# The ids Pulumi.dev.yaml ships as examples: valid in form, so refused by name.
PLACEHOLDER_IDS = frozenset({"b1gexamplecloud00000", "bt1exampleproject000"})
# A fix command for a key of the stack: `pulumi config set maxModelLen 8192`,
# `pulumi config rm quantization`, `pulumi config set --path 'extraVllmArgs[0]' ...`.
_FIX = re.compile(r"pulumi config (set|rm) (?:--path ')?([A-Za-z]+)((?:\[\d+\])?)'?(?= |$|[.,;)])")


def stack_slug(stack: str) -> str:
    """The stack name as Yandex accepts it in names and labels: lowercase, digits and `-`."""
    return re.sub(r"[^a-z0-9]+", "-", stack.lower()).strip("-")[:30] or "stack"


@dataclass(frozen=True)
class ConfigProblem:
    key: str
    value: object
    message: str
    # The `models` entry the problem is of (its name), None for a setting of the whole stack.
    entry: str | None = None

    def __str__(self) -> str:
        key = self.key if ":" in self.key else f"{NAMESPACE}:{self.key}"
        where = f"[{self.entry}] " if self.entry else ""
        value = "(not set)" if self.value is None else f"= {self.value!r}"
        return f"{where}{key} {value}: {self.message}"

    def in_entry(self, index: int, name: str, keys: frozenset[str]) -> ConfigProblem:
        """The same problem of `models[index]`: its key, and the fix commands for `keys`, become paths."""
        def scoped(match: re.Match[str]) -> str:
            verb, key, item = match.groups()
            if key not in keys:
                return match[0]
            return f"pulumi config {verb} --path 'models[{index}].{key}{item}'"

        key = f"models[{index}].{self.key}" if self.key in keys else self.key
        return replace(self, key=key, message=_FIX.sub(scoped, self.message), entry=name)


class ConfigError(pulumi.RunError):
    """Raised with every invalid config value at once; the engine shows it without a traceback."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid stack configuration ({len(problems)} problem(s)):\n{lines}")


def not_one_of(key: str, value: object, choices: Sequence[str], default: str) -> str:
    """The message for a value outside `choices`, with the closest choice (or `default`) to set."""
    closest = difflib.get_close_matches(str(value).lower(), choices, n=1, cutoff=0.5)
    return f"is not one of: {', '.join(choices)}. Fix: pulumi config set {key} {(closest or [default])[0]}"


class Problems(list[ConfigProblem]):
    """Collects problems instead of stopping at the first, so one preview shows them all."""

    def fail(self, key: str, value: object, message: str) -> None:
        self.append(ConfigProblem(key, value, message))

    def refused(self, key: str) -> bool:
        """Whether a problem of `key` was found: rules that read it would judge its stand-in default."""
        return any(problem.key == key for problem in self)

    def in_order(self, keys: Sequence[str]) -> list[ConfigProblem]:
        """The problems in the order of `keys` (a key outside them first; a `models[i]` entry's at
        `models`), each key's in the order found: one error reads like the config."""
        def position(problem: ConfigProblem) -> int:
            key = "models" if problem.key.startswith("models[") else problem.key
            return keys.index(key) if key in keys else -1

        return sorted(self, key=position)


def cloud_id_problem(key: str, value: str) -> str | None:
    """Why `value` cannot be the id `key` names (`ID_SOURCES` says where a user finds it), or None."""
    fix = f"pulumi config set {key} <id from {ID_SOURCES[key]}>"
    if not _CLOUD_ID.match(value):
        return ("is not a Yandex Cloud ID (20 characters: a lowercase letter, then lowercase letters and "
                f"digits). Fix: {fix}")
    if value in PLACEHOLDER_IDS:
        return f"is the example id from Pulumi.dev.yaml, not yours. Fix: {fix}"
    return None
