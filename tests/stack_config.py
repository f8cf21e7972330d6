"""The config model as most tests call it: raw config in, the settings out or one `ConfigError`."""

from __future__ import annotations

import pulumi

from components.config_parsing import ConfigError, RawConfig
from components.settings import Settings, settings_and_problems


def parse_settings(raw: RawConfig, *, stack: str, cloud_id: str | None,
                   hugging_face_token: pulumi.Output[str] | None = None) -> Settings:
    settings, problems = settings_and_problems(raw, stack=stack, cloud_id=cloud_id,
                                               hugging_face_token=hugging_face_token)
    if problems:
        raise ConfigError(problems)
    return settings
