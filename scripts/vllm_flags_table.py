"""Print the table of `vllm serve`'s flags, read from the parser of the vLLM this Python imports.

Run it with a vLLM environment (scripts/vllm-flags-table.sh does, for the image's release and for the
CPU build of the test tier). The table is what the preview checks `extraVllmArgs` against
(components/vllm_flags.py): every option string the parser accepts, hidden ones included (`--no-enable-x`),
how many values each takes, and its choices where argparse compares a value to them as written.
`--compare-with OTHER.json` adds what differs from another release's table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

NARGS = {None: "one", 0: "none", "?": "optional", "+": "one-or-more", "*": "any", 1: "one"}


def serve_parser() -> argparse.ArgumentParser:
    """The parser `vllm serve` builds, on the CPU platform so that its defaults need no GPU."""
    from vllm import platforms
    from vllm.entrypoints.cli.serve import ServeSubcommand

    try:
        from vllm.utils.argparse_utils import FlexibleArgumentParser
    except ImportError:
        from vllm.utils import FlexibleArgumentParser  # vLLM before 0.11
    if platforms.current_platform.is_unspecified():
        from vllm.platforms.cpu import CpuPlatform

        platforms.current_platform = CpuPlatform()
    parser = FlexibleArgumentParser(prog="vllm")
    return ServeSubcommand().subparser_init(parser.add_subparsers(dest="subparser"))


def literal_choices(action: argparse.Action) -> list[str | int] | None:
    """The choices a value is compared to as written: for `str`, `int` or no type (and vLLM's
    `optional_type(str)`, which also takes "None"); None where a type first rewrites the value."""
    if action.choices is None:
        return None
    kind = action.type
    if kind is not None and getattr(kind, "__name__", "") == "_optional_type":
        cells = getattr(kind, "__closure__", None) or ()
        kind = cells[0].cell_contents if cells else None
    if kind not in (None, str, int):
        return None
    return sorted((choice for choice in action.choices if choice is not None),
                  key=lambda choice: (isinstance(choice, str), choice))


def table(parser: argparse.ArgumentParser) -> dict[str, Any]:
    from vllm import __version__

    names: dict[int, list[str]] = {}
    actions: dict[int, argparse.Action] = {}
    # The parser's own map holds every option string it accepts, also those vLLM hides from --help.
    for name, action in parser._option_string_actions.items():
        names.setdefault(id(action), []).append(name)
        actions[id(action)] = action
    flags = []
    for key, action in actions.items():
        # In the order the parser registered them: the declared name first (`--enable-x`, not `--disable-x`).
        entry: dict[str, Any] = {"names": sorted(names[key], key=lambda n: not n.startswith("--")),
                                 "values": NARGS.get(action.nargs, "one")}
        if isinstance(action.nargs, int) and action.nargs > 1:
            entry["values"] = str(action.nargs)
        choices = literal_choices(action)
        if choices:
            entry["choices"] = choices
        flags.append(entry)
    flags.sort(key=lambda entry: entry["names"][0])
    return {"vllm": __version__, "flags": flags}


def compare(here: dict[str, Any], there: dict[str, Any]) -> dict[str, Any]:
    """What a flag name means in `here` and not in `there`, by name: missing, or another kind."""
    def by_name(found: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {name: {k: v for k, v in flag.items() if k != "names"}
                for flag in found["flags"] for name in flag["names"]}

    ours, theirs = by_name(here), by_name(there)
    return {"vllm": there["vllm"],
            "only_here": sorted(set(ours) - set(theirs)),
            "only_there": sorted(set(theirs) - set(ours)),
            "differ": [{"name": name, "here": ours[name], "there": theirs[name]}
                       for name in sorted(set(ours) & set(theirs)) if ours[name] != theirs[name]]}


def dumps(result: dict[str, Any]) -> str:
    """JSON with one flag a line, so that a new release's change reads as a short diff."""
    def rows(items: list[Any]) -> str:
        return "[" + ",".join(f"\n  {json.dumps(item)}" for item in items) + ("\n ]" if items else "]")

    parts = [f' "vllm": {json.dumps(result["vllm"])}', f' "flags": {rows(result["flags"])}']
    if "compared_with" in result:
        compared = result["compared_with"]
        parts.append(' "compared_with": {' + ", ".join(
            f'"{key}": {rows(value) if isinstance(value, list) else json.dumps(value)}'
            for key, value in compared.items()) + "}")
    return "{\n" + ",\n".join(parts) + "\n}"


def main(argv: list[str]) -> int:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--compare-with", type=Path, help="another release's table, made by this script")
    options = cli.parse_args(argv)
    result = table(serve_parser())
    if options.compare_with:
        there = json.loads(options.compare_with.read_text(encoding="utf-8"))
        result["compared_with"] = compare(result, there)
    print(dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
