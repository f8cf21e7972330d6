"""A stack's config as the Pulumi CLI would assemble it, read from the files alone (no CLI).

Pulumi.yaml's declared defaults, then Pulumi.<stack>.yaml's values. Secure (encrypted) values cannot be
read without the CLI and the passphrase: they are left out, and what needs them (the Hugging Face token,
credentials in config) comes from the environment instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from components.config_parsing import NAMESPACE


def _as_config(value: Any) -> str | None:
    """A value as the engine passes config to a program: strings as they are, the rest as JSON."""
    if isinstance(value, dict) and "secure" in value:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def stack_config(project_dir: Path, stack: str) -> dict[str, str]:
    """Full keys (`namespace:key`) to values, the project's defaults overridden by the stack's file."""
    project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())
    config: dict[str, Any] = {f"{NAMESPACE}:{key}": spec["default"]
                              for key, spec in (project.get("config") or {}).items()
                              if isinstance(spec, dict) and "default" in spec}
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if stack_file.is_file():
        config |= (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
    return {key: text for key, value in config.items() if (text := _as_config(value)) is not None}
