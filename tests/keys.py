"""A throwaway service-account key in the `yc iam key create` format, for credential tests."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def make_key() -> tuple[dict[str, str], rsa.RSAPrivateKey]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    key = {"id": "ajekey00000000000000", "service_account_id": "ajesa000000000000000",
           "created_at": "2026-11-28T00:00:00Z", "key_algorithm": "RSA_2048", "public_key": "",
           "private_key": "PLEASE DO NOT REMOVE THIS LINE! Yandex.Cloud SA Key ID <ajekey>\n" + pem}
    return key, private
