"""Reading raw config strings into values while collecting every problem, for one error at preview.

The parser never stops at the first bad value: it records a `ConfigProblem` (the key, the value and a
message that ends in the fix) and returns a default, so one preview lists everything. Problems of an
entry of `models` are scoped to it (`ConfigProblem.in_entry`): their keys and fix commands then name
the entry's path.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

import pulumi

from components import platform

NAMESPACE = "vllm-datasphere"

RawConfig = Mapping[str, str | None]
T = TypeVar("T")

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


def close_key(key: str, known: Sequence[str], listed: str) -> str:
    """What to tell of a key nobody reads: the known key it probably means, and the fix."""
    same_but_case = [name for name in known if name.lower() == key.lower()]
    guesses = same_but_case or difflib.get_close_matches(key, known, 1)
    if guesses:
        return (f"Did you mean {guesses[0]}? Fix: pulumi config rm {key} && "
                f"pulumi config set {guesses[0]} <value>")
    return f"Fix: pulumi config rm {key} {listed}"


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


class ConfigParser:
    """Collects problems instead of stopping at the first, so one preview shows them all."""

    def __init__(self, raw: RawConfig) -> None:
        self.raw = raw
        self.problems: list[ConfigProblem] = []

    def fail(self, key: str, value: object, message: str) -> None:
        self.problems.append(ConfigProblem(key, value, message))

    def text(self, key: str) -> str | None:
        value = self.raw.get(key)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def required(self, key: str, hint: str) -> str:
        value = self.text(key)
        if value is None:
            self.fail(key, self.raw.get(key), f"is required. Fix: pulumi config set {key} {hint}")
            return ""
        return value

    def number(self, key: str, convert: Callable[[str], T], valid: Callable[[T], bool],
               allowed: str, default: T, example: str) -> T:
        value = self.text(key)
        if value is None:
            return default
        try:
            number = convert(value)
        except ValueError:
            number = None
        if number is None or not valid(number):
            self.fail(key, value, f"must be {allowed}. Fix: pulumi config set {key} {example}")
            return default
        return number

    def boolean(self, key: str, default: bool) -> bool:
        value = self.text(key)
        if value is None:
            return default
        if value.lower() not in ("true", "false"):
            self.fail(key, value, f"must be true or false. Fix: pulumi config set {key} true")
            return default
        return value.lower() == "true"

    def one_of(self, key: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.text(key) or default
        if value not in allowed:
            closest = difflib.get_close_matches(value.lower(), allowed, n=1, cutoff=0.5)
            self.fail(key, value, f"is not one of: {', '.join(allowed)}. "
                      f"Fix: pulumi config set {key} {(closest or [default])[0]}")
            return default
        return value

    def cloud_id(self, key: str, required: bool = False) -> str | None:
        """An id of the cloud (`ID_SOURCES` says where a user finds it); an example id is refused."""
        fix = f"pulumi config set {key} <id from {ID_SOURCES[key]}>"
        value = self.required(key, f"<id from {ID_SOURCES[key]}>") if required else self.text(key)
        if value and not _CLOUD_ID.match(value):
            self.fail(key, value, "is not a Yandex Cloud ID (20 characters: a lowercase letter, then "
                      f"lowercase letters and digits). Fix: {fix}")
        elif value in PLACEHOLDER_IDS:
            self.fail(key, value, f"is the example id from Pulumi.dev.yaml, not yours. Fix: {fix}")
        return value
