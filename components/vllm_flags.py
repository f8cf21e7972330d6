"""How `vllm serve` reads its flags, so that a mistake in `extraVllmArgs` is refused at preview.

The table of the image's vLLM release (vllm_serve_flags.json) is made from vLLM's own parser by
scripts/vllm-flags-table.sh. This module reads `extraVllmArgs` as that parser does
(`FlexibleArgumentParser` on Python's argparse): `_` turns into `-` in a flag's name, an unambiguous
prefix names the flag it starts, `--flag=value` and `--flag value` are the same, `--json-flag.key value`
sets one key of a JSON flag, `-O3` is `--optimization-level 3`, and what no flag takes is a second,
positional model, which vLLM refuses. The image build still parses the whole command with the image's
own vLLM (`docker/serve.py --check`): the last word, also for an image of another release.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Each flag the stack sets (or must not be set at all), with the fix for a user who sets it.
MANAGED_FLAGS: dict[str, str] = {
    "--model": "set it with pulumi config set model <id>",
    "--served-model-name": "set it with pulumi config set servedModelName <name>",
    "--revision": "set it with pulumi config set modelRevision <commit>",
    "--tokenizer": "remove it: the tokenizer is the model's own, pinned at modelRevision with its weights",
    "--tokenizer-revision": "it follows the model's: pulumi config set modelRevision <commit>",
    "--quantization": "set it with pulumi config set quantization <method>",
    "--dtype": "set it with pulumi config set dtype <precision>",
    "--max-model-len": "set it with pulumi config set maxModelLen <tokens>",
    "--gpu-memory-utilization": "set it with pulumi config set gpuMemoryUtilization <fraction>",
    "--tensor-parallel-size": "it follows the GPU count: pulumi config set instanceSpec <spec>",
    "--host": "remove it: the node's endpoint needs the server on 0.0.0.0",
    "--port": "remove it: the node's endpoint calls port 8000",
    "--uds": "remove it: the node's endpoint calls HTTP on port 8000, not a Unix socket",
    "--headless": "remove it: the node needs the HTTP server",
    "--grpc": "remove it: the node's endpoint speaks HTTP (the OpenAI API)",
    "--data-parallel-size": "remove it: every GPU of instanceSpec already serves the one model replica",
    "--pipeline-parallel-size": "remove it: every GPU of instanceSpec already serves the one model replica",
}

TABLE_FILE = Path(__file__).with_name("vllm_serve_flags.json")
# Flags that stop the server from serving whatever the release.
REFUSED_FLAGS = {
    "--help": "prints vLLM's help and exits, so the node would never serve. Fix: remove it; to read the "
              "help, run vllm serve --help where vLLM is installed",
    "--config": "reads its flags from a YAML file, and the image holds no file of yours. Fix: put each "
                "setting of that file in extraVllmArgs",
}
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


@dataclass(frozen=True)
class Flag:
    """One flag of `vllm serve`: every name it answers to, how many values it takes, its choices."""

    names: tuple[str, ...]
    values: str
    choices: tuple[str | int, ...] = ()

    @property
    def name(self) -> str:
        return self.names[0]


@dataclass(frozen=True)
class FlagTable:
    vllm: str
    by_name: dict[str, Flag]

    def long_names(self) -> list[str]:
        return [name for name in self.by_name if name.startswith("--")]

    def lookup(self, written: str) -> tuple[list[Flag], str | None]:
        """The flags `written` could name as argparse reads it (one: found; none: unknown; more:
        ambiguous), and the value joined to a short flag (`-q` in `-qawq`)."""
        if written in self.by_name:
            return [self.by_name[written]], None
        if written.startswith("--"):
            return _distinct(self.by_name[n] for n in self.by_name if n.startswith(written)), None
        short = self.by_name.get(written[:2])
        if short is not None and len(written) > 2:
            return [short], written[2:]
        return _distinct(self.by_name[n] for n in self.by_name if n.startswith(written)), None


def _distinct(flags: Iterable[Flag]) -> list[Flag]:
    return list({flag.name: flag for flag in flags}.values())


@functools.cache
def serve_flags(path: Path = TABLE_FILE) -> FlagTable:
    table = json.loads(path.read_text(encoding="utf-8"))
    by_name: dict[str, Flag] = {}
    for entry in table["flags"]:
        flag = Flag(tuple(entry["names"]), entry["values"], tuple(entry.get("choices", ())))
        by_name.update(dict.fromkeys(flag.names, flag))
    return FlagTable(table["vllm"], by_name)


def image_vllm_version(image: str) -> str | None:
    """The vLLM release of an official image pinned by its release tag, else None."""
    match = re.fullmatch(r"(?:docker\.io/)?vllm/vllm-openai:v(\d+\.\d+\.\d+)(?:@sha256:[0-9a-f]{64})?", image)
    return match[1] if match else None


@dataclass(frozen=True)
class Finding:
    """A mistake in one item of extraVllmArgs. `release` is True where only the table's vLLM release
    is sure to refuse it (an unknown flag, a value count, a choice): another image's release may not."""

    index: int
    item: str
    message: str
    release: bool = False


def read_extra_args(items: Sequence[str], table: FlagTable | None = None, key: str = "extraVllmArgs"
                    ) -> list[Finding]:
    """Every mistake vLLM would refuse `items` for, read as its parser reads them after the stack's flags."""
    reader = _Reader(list(items), table or serve_flags(), key)
    reader.read()
    return reader.findings


def _is_value(item: str) -> bool:
    """What argparse takes as a value rather than a flag: `-` alone, negative numbers, text with a space."""
    return not item.startswith("-") or item == "-" or bool(_NEGATIVE_NUMBER.match(item)) or " " in item


def _normal_name(name: str) -> str:
    """`--a_b.c_d` as vLLM passes it to argparse: `_` to `-` up to the first dot."""
    if not name.startswith("--"):
        return name
    head, dot, rest = name[2:].partition(".")
    return f"--{head.replace('_', '-')}{dot}{rest}"


class _Reader:
    def __init__(self, items: list[str], table: FlagTable, key: str) -> None:
        self.items, self.table, self.key = items, table, key
        self.findings: list[Finding] = []
        self.index = 0

    def fail(self, message: str, release: bool = False, index: int | None = None) -> None:
        at = self.index if index is None else index
        self.findings.append(Finding(at, self.items[at], message, release))

    def fix(self, value: str, index: int | None = None) -> str:
        at = self.index if index is None else index
        return f"pulumi config set --path '{self.key}[{at}]' {value}"

    def read(self) -> None:
        after_switch: str | None = None
        while self.index < len(self.items):
            item = self.items[self.index]
            if item == "--":
                self.fail("ends vLLM's flags: it reads every item after it as a second model, and refuses. "
                          f"Fix: remove it from {self.key}")
                return
            if item.startswith("-") and " " in item.partition("=")[0] and not _NEGATIVE_NUMBER.match(item):
                self._spaced(item)
                after_switch = None
            elif _is_value(item):
                self._positional(item, after_switch)
                self.index += 1
            else:
                after_switch = self._flag(item)

    def _positional(self, item: str, after_switch: str | None, release: bool = False) -> None:
        refused = "so vLLM takes it for a second model, and refuses"
        if after_switch is not None:
            self.fail(f"follows {after_switch}, which takes no value, {refused}. "
                      f"Fix: remove it from {self.key}", release=release)
        elif "/" in item and " " not in item:
            self.fail("is a positional argument, which vLLM takes for a second model and refuses. Fix: to "
                      f"serve it, pulumi config set model {item}; else remove it from {self.key}")
        else:
            self.fail(f"is a value that no flag before it takes, {refused}. Fix: remove it from {self.key}, "
                      "or put the flag it is for before it")

    def _spaced(self, item: str) -> None:
        first, _, rest = item.partition(" ")
        self.fail(f"holds a space, so vLLM reads it as one word, a second model, and refuses: each item of "
                  f"{self.key} is one argument. Fix: {self.fix(first)} and put {rest!r} in the next item")
        self.index += 1

    def _flag(self, item: str) -> str | None:
        """Read the flag at the cursor and its values; the flag's name when it takes no value."""
        name, equals, value = item.partition("=")
        explicit = value if equals else None
        if item.startswith("-O") and item != "-O":
            name, explicit = "--optimization-level", item[3:] if item[2:3] == "=" else item[2:]
        elif item == "-O" and self.items[self.index + 1:self.index + 2] in (["0"], ["1"], ["2"], ["3"]):
            name = "--optimization-level"
        name = _normal_name(name)
        if "." in name:
            return self._json_key(name, explicit)
        flags, joined = self.table.lookup(name)
        if joined is not None:
            explicit = joined
        if len(flags) != 1:
            meant = self._unknown(name, explicit, flags)
            self.index += 1
            if explicit is None and self.index < len(self.items) and _is_value(self.items[self.index]):
                if meant is not None and self.table.by_name[meant].values == "none":
                    # Stray after the switch meant; another release's flag of that name may take it.
                    self._positional(self.items[self.index], meant, release=True)
                self.index += 1
            return None
        return self._known(flags[0], item, name, explicit)

    def _json_key(self, name: str, explicit: str | None) -> None:
        base = name.split(".", 1)[0].removesuffix("+")
        flags, _ = self.table.lookup(base)
        at = self.index
        self.index += 1 if explicit is not None else 2
        if len(flags) != 1:
            self._unknown(base, None, flags, index=at)
        elif flags[0].values != "one":
            self.fail(f"sets a key of {flags[0].name}, which takes no JSON value. "
                      f"Fix: {self.fix(flags[0].name, at)}", release=True, index=at)
        elif explicit is None and at + 1 >= len(self.items):
            self.fail(f"needs a value after it. Fix: add the value as {self.key}[{at + 1}]",
                      release=True, index=at)
        elif (managed := _managed(flags[0])) is not None:
            self._managed(managed, self.items[at], index=at)
        return None

    def _unknown(self, name: str, explicit: str | None, flags: list[Flag], index: int | None = None
                 ) -> str | None:
        """Say that `name` names no one flag; the name most likely meant, if any."""
        release = f"vLLM {self.table.vllm}"
        if flags:
            matching = sorted(n for flag in flags for n in flag.names if n.startswith(name))
            options = ", ".join(matching[:6]) + (", ..." if len(matching) > 6 else "")
            self.fail(f"is ambiguous: {release} could read {name} as {options}. Fix: write the whole name of "
                      "the flag you mean", release=True, index=index)
            return None
        guess = difflib.get_close_matches(name, self.table.long_names(), n=1, cutoff=0.6)
        fix = f"Fix: remove it from {self.key} (vllm serve --help=all lists the flags)"
        if guess:
            written = guess[0] if explicit is None else f"{guess[0]}={explicit}"
            fix = f"Did you mean {guess[0]}? Fix: {self.fix(written, index)}"
        self.fail(f"is not a flag of vllm serve in {release}. {fix}", release=True, index=index)
        return guess[0] if guess else None

    def _known(self, flag: Flag, item: str, name: str, explicit: str | None) -> str | None:
        at = self.index
        self.index += 1
        refused = next((REFUSED_FLAGS[n] for n in flag.names if n in REFUSED_FLAGS), None)
        managed = _managed(flag)
        values = self._values(flag, explicit, at, report=managed is None and refused is None)
        if refused is not None:
            self.fail(refused, index=at)
            return None
        if managed is not None:
            self._managed(managed, item, index=at)
            return None
        if values is None:
            return None
        if flag.values == "none":
            if explicit is not None:
                self.fail(f"{flag.name} is a switch and takes no value. Fix: {self.fix(name, at)}",
                          release=True, index=at)
                return None
            return flag.name
        for offset, value in enumerate(values, start=1):
            if flag.choices and not _chosen(value, flag.choices):
                choices = ", ".join(str(c) for c in flag.choices)
                written = {str(choice).lower(): str(choice) for choice in flag.choices}
                guess = difflib.get_close_matches(value.lower(), written, n=1, cutoff=0.5)
                instead = written[(guess or [next(iter(written))])[0]]
                fix = self.fix(f"{name}={instead}", at) if explicit is not None else \
                    self.fix(instead, at + offset)
                self.fail(f"gives {flag.name} {value!r}, which is not one of: {choices} (vLLM "
                          f"{self.table.vllm}). Fix: {fix}", release=True, index=at)
        return None

    def _values(self, flag: Flag, explicit: str | None, at: int, report: bool = True) -> list[str] | None:
        """The values `flag` takes from the items after it (moving the cursor past them); None when it
        lacks one."""
        if explicit is not None or flag.values == "none":
            return [] if explicit is None else [explicit]
        wanted = {"one": 1, "optional": 0, "one-or-more": 1, "any": 0}.get(flag.values)
        most = {"one": 1, "optional": 1}.get(flag.values, len(self.items))
        if wanted is None:
            wanted = most = int(flag.values)
        taken: list[str] = []
        while len(taken) < most and self.index < len(self.items) and _is_value(self.items[self.index]):
            taken.append(self.items[self.index])
            self.index += 1
        if len(taken) < wanted and not report:
            return None
        if len(taken) < wanted:
            after = f"; {self.items[self.index]!r} after it is a flag" if self.index < len(self.items) else ""
            self.fail(f"needs a value{after}. Fix: put its value in {self.key}[{at + 1}], or remove "
                      f"{flag.name}", release=True, index=at)
            return None
        return taken

    def _managed(self, managed: str, item: str, index: int) -> None:
        written = item.split("=", 1)[0]
        read_as = "" if written == managed else f" (vLLM reads {written} as {managed})"
        self.fail(f"sets {managed}, which the stack manages{read_as}. Fix: {MANAGED_FLAGS[managed]}",
                  index=index)


def _managed(flag: Flag) -> str | None:
    return next((name for name in flag.names if name in MANAGED_FLAGS), None)


def _chosen(value: str, choices: tuple[str | int, ...]) -> bool:
    if all(isinstance(choice, int) for choice in choices):
        return value.strip().lstrip("-").isdigit() and int(value) in choices
    return value in choices or value in ("", "None")


def flag_number(args: Sequence[str], flag: str) -> int | None:
    """The whole number the last `flag` in `args` sets (`--flag N`, `--flag=N`, `_` for `-`), or None."""
    found = None
    for index, item in enumerate(args):
        name, _, value = item.partition("=")
        if _normal_name(name) != flag:
            continue
        if not value and index + 1 < len(args):
            value = args[index + 1]
        found = int(value) if value.isdigit() else found
    return found


def checked_here(image: str) -> bool:
    """Whether `image` runs the table's vLLM release, so that the table's verdicts are sure."""
    return image_vllm_version(image) == serve_flags().vllm


def other_release_warnings(items: Sequence[str], image: str) -> list[str]:
    """For an image of another vLLM release: what the table's release would refuse, said as warnings."""
    if checked_here(image):
        return []
    return [f"extraVllmArgs {finding.item!r} {finding.message} (vllmImage {image} may run another release: "
            "its build's check decides)" for finding in read_extra_args(items) if finding.release]
