"""The stack's API endpoints and poll interval: their config keys, defaults, and the rules a value must
meet, in one place for the preview's settings and for the providers, which read the same stack config
again in the engine's provider host (`configure`) and so check it again.
"""

from __future__ import annotations

import re
from typing import Any

from components.cloud.http import Endpoints, Timing

# The project's config namespace (Pulumi.yaml `name`): every key of the stack is `vllm-datasphere:<key>`.
NAMESPACE = "vllm-datasphere"
# Each attribute of `Endpoints`, by its config key.
ENDPOINT_KEYS = {
    "datasphere": "datasphereEndpoint",
    "operation": "operationEndpoint",
    "iam": "iamEndpoint",
    "node_api": "nodeApiEndpoint",
    "registry": "cloudRegistryEndpoint",
}
# The public URLs, from the one place the client keeps them.
ENDPOINT_DEFAULTS = {key: getattr(Endpoints(), attr) for attr, key in ENDPOINT_KEYS.items()}
POLL_INTERVAL_KEY = "pollIntervalSeconds"
MAX_POLL_INTERVAL_SECONDS = 60.0
_LOOPBACK_URL = re.compile(r"^http://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(/|$)")


class EndpointConfigError(ValueError):
    """A stack config value the providers cannot work with; says the key, the value and the fix."""


def endpoint_fix(key: str) -> str:
    return f"Fix: pulumi config rm {key} (default {ENDPOINT_DEFAULTS[key]})"


def endpoint_problem(key: str, url: str) -> str | None:
    """Why `url` cannot be the endpoint `key` names, with the fix, or None."""
    if url.startswith("https://") or _LOOPBACK_URL.match(url):
        return None
    return f"must be an https:// URL (http:// only on loopback). {endpoint_fix(key)}"


def poll_interval_problem(value: float) -> str | None:
    if 0 < value <= MAX_POLL_INTERVAL_SECONDS:
        return None
    return f"must be a number of seconds above 0 and at most {MAX_POLL_INTERVAL_SECONDS:g}"


def endpoints_from(config: Any) -> Endpoints:
    """The endpoints a stack config (anything with `get(full key)`) names, each checked."""
    chosen = {}
    for attr, key in ENDPOINT_KEYS.items():
        url = config.get(f"{NAMESPACE}:{key}") or ENDPOINT_DEFAULTS[key]
        problem = endpoint_problem(key, url)
        if problem is not None:
            raise EndpointConfigError(f"{NAMESPACE}:{key} = {url!r} {problem}")
        chosen[attr] = url.rstrip("/")
    return Endpoints(**chosen)


def timing_from(config: Any) -> Timing:
    """The poll interval a stack config sets (default: the client's), checked."""
    text = config.get(f"{NAMESPACE}:{POLL_INTERVAL_KEY}")
    if not text:
        return Timing()
    try:
        interval = float(text)
    except (TypeError, ValueError):
        interval = 0.0
    problem = poll_interval_problem(interval)
    if problem is not None:
        raise EndpointConfigError(f"{NAMESPACE}:{POLL_INTERVAL_KEY} = {text!r} {problem}. Fix: pulumi config "
                                  f"set {POLL_INTERVAL_KEY} 10")
    return Timing(poll_interval=interval)
