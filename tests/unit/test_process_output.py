"""A process of the project writes only its own lines: eventlet's deprecation banner (printed
at import, before logging is configured) is silenced by sitecustomize.py wherever the
project is on PYTHONPATH, as `make`, the image and the tests' processes put it."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def stderr_of(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONWARNINGS", None)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd="/", env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_importing_eventlet_prints_no_banner():
    assert stderr_of("import eventlet, nameko.cli, servicekit.service") == ""


def test_other_warnings_still_show():
    stderr = stderr_of("import warnings; warnings.warn('something else', UserWarning)")
    assert "UserWarning: something else" in stderr


def test_the_image_runs_with_the_project_on_pythonpath_and_its_sitecustomize():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "PYTHONPATH=/app" in dockerfile and "WORKDIR /app" in dockerfile
    copies = [line for line in dockerfile.splitlines() if line.startswith("COPY ")]
    assert any("sitecustomize.py" in line.split()[1:-1] for line in copies)


def test_the_eventlet_plan_lists_every_file_that_imports_eventlet():
    """docs/eventlet.md is the surface to move when eventlet ends: a new import joins it."""
    importers = set()
    for folder in ("servicekit", "services", "gateway", "contracts"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if re.search(r"^\s*(from|import) (eventlet|psycogreen\.eventlet)\b", text, re.M):
                importers.add(str(path.relative_to(ROOT)))
    plan = (ROOT / "docs" / "eventlet.md").read_text()
    listed = set(re.findall(r"^\| `([\w/]+\.py)` \|", plan, re.M))
    assert listed == importers
