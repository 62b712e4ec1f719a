"""A process refuses to start with settings it cannot work with: a placeholder from the
deployment files, or a key it uses that does not load (in production, the development key)."""

import pytest

from servicekit import config, tokens


def test_a_placeholder_anywhere_stops_the_start_naming_the_variable_only():
    environ = {"AMQP_URI": "amqp://navigator:CHANGE-ME@rabbitmq/", "LOG_LEVEL": "INFO"}
    with pytest.raises(config.Placeholder) as refused:
        config.refuse_placeholders(environ)
    assert "AMQP_URI" in str(refused.value) and "rabbitmq" not in str(refused.value)
    config.refuse_placeholders({"AMQP_URI": "amqp://guest:guest@127.0.0.1/"})


def test_accounts_needs_a_private_key_that_loads(monkeypatch):
    monkeypatch.setenv("JWT_PRIVATE_KEY", "-----BEGIN PRIVATE KEY-----\nnot a key\n")
    with pytest.raises(tokens.InsecureConfiguration, match="JWT_PRIVATE_KEY"):
        tokens.check_keys("accounts")
    tokens.check_keys("catalog")  # holds no key, needs none


def test_the_gateway_needs_a_public_key_that_loads(monkeypatch):
    monkeypatch.setenv("JWT_PUBLIC_KEY", "garbage")
    with pytest.raises(tokens.InsecureConfiguration, match="JWT_PUBLIC_KEY"):
        tokens.check_keys("gateway")


def test_production_refuses_the_development_key_at_start(monkeypatch):
    monkeypatch.setenv("NAVIGATOR_ENV", "production")
    monkeypatch.delenv("JWT_PRIVATE_KEY", raising=False)
    with pytest.raises(tokens.InsecureConfiguration, match="development default"):
        tokens.check_keys("accounts")


def test_development_starts_with_the_development_keys(monkeypatch):
    monkeypatch.delenv("NAVIGATOR_ENV", raising=False)
    for name in ("JWT_PRIVATE_KEY", "JWT_PUBLIC_KEY"):
        monkeypatch.delenv(name, raising=False)
    tokens.check_keys("accounts")
    tokens.check_keys("gateway")
