"""Check a stack's config as `pulumi preview` does, without the Pulumi CLI or a cloud account.

    python -m components.check_config [--stack dev]      (scripts/check.sh [stack] runs this)

Reads Pulumi.yaml and Pulumi.<stack>.yaml as files and runs every check of the preview that needs no
cloud: each setting, each model's preflight (from the Hub, or offline from the cache), the cost and the
spend cap. With credentials in the environment (YC_TOKEN, YC_IAM_TOKEN or YC_SERVICE_ACCOUNT_KEY_FILE)
it reads the cloud too: an existing subnet or registry, the DataSphere project and its contract calls.
Encrypted values are not read: a gated model's token comes from HF_TOKEN. Prints the preview's own lines
and messages. Exit codes: 0 the preview would pass these checks; 1 it would not; 2 no such stack file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pulumi

from components.config_files import stack_config
from components.config_parsing import ConfigError
from components.preview import check_before_any_resource
from components.settings import read_settings

ROOT = Path(__file__).resolve().parent.parent
CREDENTIALS = ("YC_TOKEN", "YC_IAM_TOKEN", "YC_SERVICE_ACCOUNT_KEY_FILE")


class NoResources(pulumi.runtime.Mocks):
    """The checks register nothing; the runtime is only there for config and logging."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        raise AssertionError(f"the config check must register nothing, got {args.typ}")

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        raise AssertionError(f"the config check must call nothing, got {args.token}")


def check(project_dir: Path, stack: str) -> int:
    if not (project_dir / f"Pulumi.{stack}.yaml").is_file():
        print(f"check: no Pulumi.{stack}.yaml in {project_dir}", file=sys.stderr)
        return 2
    config = stack_config(project_dir, stack)
    pulumi.runtime.set_all_config(config)
    # As the engine hands a program its config: the program lists the keys from here.
    os.environ["PULUMI_CONFIG"] = json.dumps(config)
    pulumi.runtime.set_mocks(NoResources(), project="vllm-datasphere", stack=stack, preview=True)
    cloud = any(os.environ.get(name) for name in CREDENTIALS)
    settings, problems = read_settings()
    try:
        check_before_any_resource(settings, problems, os.environ.get("HF_TOKEN"), cloud=cloud)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    reads = "the cloud's answers too" if cloud else f"no cloud reads (set one of {', '.join(CREDENTIALS)})"
    print(f"check: stack {stack} passes the preview's checks ({reads})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.check_config",
                                     description=__doc__.split("\n\n", 1)[0],
                                     epilog="Exit codes: 0 passes; 1 a problem; 2 no such stack file.")
    parser.add_argument("--stack", default="dev", help="the stack whose Pulumi.<stack>.yaml is checked")
    parser.add_argument("--project-dir", type=Path, default=ROOT, help="where Pulumi.yaml is")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    return check(args.project_dir, args.stack)


if __name__ == "__main__":
    sys.exit(main())
