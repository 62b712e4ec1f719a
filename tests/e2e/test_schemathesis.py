"""Schemathesis against the gateway's own OpenAPI document, anonymously and as each role, with
every check it has: no 5xx, no undocumented status or content type, no response that breaks
the document, schema-invalid data refused, schema-valid data accepted (or refused by a rule of
the domain, see schemathesis.toml), 405 with Allow for undeclared methods, auth enforced."""

import subprocess
import sys
from pathlib import Path

import pytest

from servicekit.tokens import issue_access_token

CONFIG = Path(__file__).with_name("schemathesis.toml")

# Tokens as accounts would issue them; the ids need not exist (a 404 is a documented answer).
CALLERS = {
    "anonymous": None,
    "parent": {"sub": "1", "role": "parent"},
    "provider": {"sub": "2", "role": "provider", "org": 1},
    "municipal_operator": {"sub": "3", "role": "municipal_operator", "mun": "krasnoyarsk"},
    "regional_operator": {"sub": "4", "role": "regional_operator"},
}


@pytest.mark.parametrize("caller", CALLERS)
def test_schemathesis_finds_no_server_error_and_no_undocumented_response(api, caller):
    st = str(Path(sys.executable).with_name("st"))
    command = [
        st, "--config-file", str(CONFIG), "run", f"{api}/openapi.json", "--checks", "all",
        "--max-examples", "20", "--seed", "20261128", "--request-timeout", "20",
        "--phases", "examples,coverage,fuzzing", "--no-color",
    ]  # fmt: skip
    claims = CALLERS[caller]
    if claims:
        command += ["--header", f"Authorization: Bearer {issue_access_token(claims, ttl=3600)}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
