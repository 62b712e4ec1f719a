"""Sealing a small JSON value under a secret only its owner holds (an Idempotency-Key, a
refresh token): AES-GCM with a key derived by HKDF from the secret and a context. What is
stored can be opened only by presenting the secret again, so a copy of the table reads nothing."""

import base64
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"


def _cipher(secret: str, context: str) -> AESGCM:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=context.encode(), info=b"navigator sealed"
    ).derive(secret.encode())
    return AESGCM(key)


def seal(secret: str, context: str, value) -> str:
    nonce = os.urandom(12)
    sealed = _cipher(secret, context).encrypt(nonce, json.dumps(value).encode(), context.encode())
    return f"{VERSION}:" + base64.b64encode(nonce + sealed).decode()


def unseal(secret: str, context: str, stored: str):
    """The value, or ValueError when `secret` or `context` is not the one it was sealed with."""
    version, _, data = stored.partition(":")
    if version != VERSION:
        raise ValueError("unknown format of a sealed value")
    raw = base64.b64decode(data)
    try:
        return json.loads(_cipher(secret, context).decrypt(raw[:12], raw[12:], context.encode()))
    except InvalidTag as exc:
        raise ValueError("the sealed value does not open with this secret") from exc
