"""The gateway's memory of verified access tokens: a token is verified once, then answered
from memory until its own expiry, for the key it was verified with; a bounded memory."""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.http import VerifiedTokens
from servicekit import tokens
from servicekit.errors import Unauthorized


@pytest.fixture
def verifications(monkeypatch):
    calls = []
    verify = tokens.verify_access_token

    def counted(token, key=None):
        calls.append(token)
        return verify(token, key)

    monkeypatch.setattr(tokens, "verify_access_token", counted)
    return calls


def token(user_id: int = 5, **claims) -> str:
    return tokens.issue_access_token({"sub": str(user_id), "role": "parent", **claims})


def test_a_token_is_verified_once_then_answered_from_memory(verifications):
    cache, parent = VerifiedTokens(), token(5, org=None)

    first = cache.principal(parent)
    again = cache.principal(parent)

    assert first == again
    assert (first.user_id, first.role) == (5, "parent")
    assert verifications == [parent]


def test_a_remembered_token_is_verified_again_past_its_own_expiry(verifications):
    cache, parent = VerifiedTokens(), token()
    cache.principal(parent)
    expires = cache.entries[parent][0]

    cache.wall = lambda: expires  # the second its `exp` names: PyJWT calls it expired
    cache.principal(parent)

    assert verifications == [parent, parent]


def test_a_forged_signature_is_refused_though_the_real_token_is_remembered(verifications):
    cache, parent = VerifiedTokens(), token()
    cache.principal(parent)
    head, body, signature = parent.split(".")
    forged = f"{head}.{body}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"

    with pytest.raises(Unauthorized):
        cache.principal(forged)
    with pytest.raises(Unauthorized):
        cache.principal(forged)
    assert verifications == [parent, forged, forged]


def test_another_public_key_verifies_a_remembered_token_again(verifications, monkeypatch):
    cache, parent = VerifiedTokens(), token()
    cache.principal(parent)
    other = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    monkeypatch.setenv("JWT_PUBLIC_KEY", other)

    with pytest.raises(Unauthorized):
        cache.principal(parent)
    assert verifications == [parent, parent]


def test_the_memory_keeps_the_most_recently_used_tokens_only(verifications):
    cache = VerifiedTokens(max_entries=2)
    first, second, third = token(1), token(2), token(3)
    cache.principal(first)
    cache.principal(second)
    cache.principal(first)  # used again: the second is now the oldest

    cache.principal(third)

    assert list(cache.entries) == [first, third]
    cache.principal(second)
    assert verifications == [first, second, third, second]
