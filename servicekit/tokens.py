"""Access tokens: short-lived JWTs signed by accounts (Ed25519) and verified by the gateway
locally with the public key, so no request costs an RPC to check who is asking."""

from datetime import UTC, datetime, timedelta
from functools import lru_cache

import jwt

from servicekit import config

ISSUER = "navigator-accounts"
AUDIENCE = "navigator"
ALGORITHM = "EdDSA"

# Development-only key pair: refused when NAVIGATOR_ENV=production.
DEV_PRIVATE_KEY = """-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEII0rex0oelWoR+rHgNMyGYITbGc7oGaqDswqYJrY8Mcd
-----END PRIVATE KEY-----
"""
DEV_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAe3v0QdQkNfjLwhLXdLzFdSVY4wBsIgEYwOvsYwsNR0c=
-----END PUBLIC KEY-----
"""


class InsecureConfiguration(RuntimeError):
    pass


def _key(name: str, dev_default: str) -> str:
    value = config.env(name, dev_default).replace("\\n", "\n")
    if config.is_production() and value.strip() == dev_default.strip():
        raise InsecureConfiguration(f"{name} is the development default; set a real key")
    return value


def private_key() -> str:
    return _key("JWT_PRIVATE_KEY", DEV_PRIVATE_KEY)


def public_key() -> str:
    return _key("JWT_PUBLIC_KEY", DEV_PUBLIC_KEY)


# Who holds which key: accounts signs, the gateway verifies; no other process needs either
# (deploy/k8s/secrets.example.yaml gives each only its own).
KEYS_OF = {"accounts": ("JWT_PRIVATE_KEY",), "gateway": ("JWT_PUBLIC_KEY",)}


def check_keys(process: str) -> None:
    """At start: the keys this process uses load (a wrong or placeholder PEM, or in production
    the development key, stops it here rather than at the first login)."""
    from cryptography.hazmat.primitives import serialization

    for name in KEYS_OF.get(process, ()):
        try:
            if name == "JWT_PRIVATE_KEY":
                serialization.load_pem_private_key(private_key().encode(), password=None)
            else:
                serialization.load_pem_public_key(public_key().encode())
        except ValueError as exc:
            raise InsecureConfiguration(f"{name} is not a PEM key ({exc})") from None


def access_token_ttl() -> int:
    return int(config.env("ACCESS_TOKEN_TTL", "900"))


def issue_access_token(
    claims: dict, key: str | None = None, ttl: int | None = None, now: datetime | None = None
) -> str:
    now = now or datetime.now(UTC)
    payload = {
        **claims,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl or access_token_ttl())).timestamp()),
    }
    return jwt.encode(payload, key or private_key(), algorithm=ALGORITHM)


@lru_cache(maxsize=4)
def _loaded_public_key(pem: str):
    """The PEM text parsed once: PyJWT parsed it again at every verification, about a sixth
    of the cost of one. Keyed by the text, so a changed JWT_PUBLIC_KEY takes effect."""
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_public_key(pem.encode())


def verify_access_token(token: str, key: str | None = None) -> dict:
    """The token's claims, or jwt.InvalidTokenError. Only EdDSA is accepted (never `none`)."""
    return jwt.decode(
        token,
        _loaded_public_key(key or public_key()),
        algorithms=[ALGORITHM],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["exp", "iat", "sub", "iss", "aud"]},
    )
