"""A service account's authorized key as a file, as `yc iam key create` writes it: what a client signs
its IAM token requests with, and what a DataSphere node logs in to a registry with (username json_key)."""

from __future__ import annotations

import json

import pulumi
import pulumi_yandex_marketmaker as yandex


def authorized_key_json(key_id: str, service_account_id: str, created_at: str,
                        key_algorithm: str, public_key: str, private_key: str) -> str:
    """The key file exactly as `yc iam key create` writes it (IAM docs, authorized-key/create)."""
    return json.dumps({
        "id": key_id,
        "service_account_id": service_account_id,
        "created_at": created_at,
        "key_algorithm": key_algorithm,
        "public_key": public_key,
        "private_key": private_key,
    }, indent=2)


def key_json_of(key: yandex.IamServiceAccountKey) -> pulumi.Output[str]:
    """The key's file contents, secret: it holds the private key."""
    return pulumi.Output.secret(
        pulumi.Output.all(key.id, key.service_account_id, key.created_at, key.key_algorithm,
                          key.public_key, key.private_key)
        .apply(lambda parts: authorized_key_json(*parts))
    )
