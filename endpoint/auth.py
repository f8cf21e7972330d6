"""An IAM token for the endpoint: given, from a service-account key, or from the `yc` CLI."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping

from components import platform
from components.cloud.credentials import CredentialsError, TokenSource
from components.cloud.http import ApiError, Endpoints, Timing
from endpoint.outputs import Runner


class AuthError(Exception):
    """No token could be had; the message names the fix."""


class Refused(AuthError):
    """The endpoint answered 401 or 403; the message names the missing role."""


def iam_token(key_file: str | None, env: Mapping[str, str], iam_endpoint: str | None = None,
              run: Runner = subprocess.run) -> str:
    """`YC_IAM_TOKEN`, else a key file (`--key-file`, `YC_SERVICE_ACCOUNT_KEY_FILE`), else `yc`."""
    if env.get("YC_IAM_TOKEN"):
        return env["YC_IAM_TOKEN"]
    key = key_file or env.get("YC_SERVICE_ACCOUNT_KEY_FILE")
    if key:
        endpoints = Endpoints(iam=iam_endpoint) if iam_endpoint else Endpoints()
        try:
            return TokenSource("key", key, endpoints, Timing())()
        except (CredentialsError, ApiError, ConnectionError, OSError, ValueError) as error:
            raise AuthError(f"cannot get an IAM token with the service account key: {error}") from None
    try:
        done = run(["yc", "iam", "create-token"], capture_output=True, text=True, check=False, timeout=60)
    except FileNotFoundError:
        raise AuthError("no credentials: set YC_IAM_TOKEN, pass --key-file with a service account key "
                        "(e.g. the stack's clientKeyJson), or install and log in to the yc CLI") from None
    if done.returncode != 0 or not done.stdout.strip():
        raise AuthError(f"`yc iam create-token` failed: {done.stderr.strip()[:300]}")
    return done.stdout.strip()


def refusal(status: int | None, project_id: str | None) -> Refused | None:
    """What a 401 or 403 from node-api means and how to fix it; None for any other status."""
    if status == 401:
        return Refused("the endpoint refused the token (HTTP 401): it is missing, malformed or expired "
                         "(IAM tokens live 12 hours). Fix: get a new one with `yc iam create-token`, or "
                         "pass --key-file with a service account key")
    if status == 403:
        project = f"DataSphere project {project_id}" if project_id else "the DataSphere project"
        return Refused(f"the token's account may not call this node (HTTP 403): it needs the role "
                         f"{platform.ROLE_DATASPHERE_DEVELOPER} on {project}, and x-folder-id must be "
                         "the stack's folder. Fix: grant the role on the project's Access page, or "
                         "`pulumi config set clientServiceAccount true`, `pulumi up`, and use the key in "
                         "the clientKeyJson output")
    return None
