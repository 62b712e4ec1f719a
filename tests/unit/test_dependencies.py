"""Dependencies as a release has them: the whole installed set locked (the image and CI
install from the locks, `make lock` regenerates them), psycopg2 built from source, honcho
only in development, and the Python the project needs named when another is at hand."""

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import check_python  # noqa: E402

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def name(requirement: str) -> str:
    return re.split(r"[=<>\[ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def pins(requirements: list[str]) -> dict[str, str]:
    found = {}
    for requirement in requirements:
        assert "==" in requirement, f"pin it exactly: {requirement}"
        found[name(requirement)] = requirement.split("==")[1].split(";")[0].strip()
    return found


def lock(file: str) -> dict[str, str]:
    lines = (ROOT / file).read_text().splitlines()
    return pins([line for line in lines if line and not line.startswith("#")])


def test_the_locks_hold_every_pin_of_pyproject_at_its_version():
    runtime = pins(PYPROJECT["project"]["dependencies"])
    development = pins(PYPROJECT["project"]["optional-dependencies"]["dev"])
    image, everything = lock("requirements.lock"), lock("requirements-dev.lock")
    assert {n: image.get(n) for n in runtime} == runtime
    assert {n: everything.get(n) for n in runtime | development} == runtime | development
    # the image runs exactly the versions the tests ran, and no tool of development
    assert {n: everything[n] for n in image} == image
    assert not set(development) & set(image)


def test_psycopg2_is_built_from_source_and_honcho_is_for_development_only():
    for file in ("requirements.lock", "requirements-dev.lock"):
        assert "psycopg2" in lock(file) and "psycopg2-binary" not in lock(file), file
    assert "honcho" not in pins(PYPROJECT["project"]["dependencies"])
    assert "honcho" in pins(PYPROJECT["project"]["optional-dependencies"]["dev"])


def test_the_image_installs_the_lock_and_builds_against_libpq():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    build, final = dockerfile.split("\nFROM python:3.11-slim\n")
    assert "-r /tmp/requirements.lock" in build and "libpq-dev" in build
    assert "libpq5" in final and "COPY --from=build" in final
    assert "pip install ." not in dockerfile


def test_make_and_ci_install_from_the_lock_and_one_target_relocks():
    makefile = (ROOT / "Makefile").read_text()
    assert "$(VENV)/.installed: pyproject.toml requirements-dev.lock" in makefile
    assert "pip install -q -r requirements-dev.lock" in makefile
    assert "pip install -q --no-deps -e ." in makefile
    assert re.search(r"^lock:\n(\t.*\n)*\t\$\(PYTHON\) tools/lock\.py$", makefile, re.M)
    assert "make install" in (ROOT / ".ci" / "run").read_text()


def test_requires_python_says_why_it_stops_below_3_12():
    text = (ROOT / "pyproject.toml").read_text()
    before = text.split("requires-python")[0].splitlines()[-4:]
    assert any("3.12" in line and line.startswith("#") for line in before)


def test_the_python_check_names_the_python_the_project_needs():
    spec = check_python.requires_python((ROOT / "pyproject.toml").read_text())
    assert spec == PYPROJECT["project"]["requires-python"]
    assert not check_python.problem((3, 11, 7), ">=3.11,<3.12")
    assert check_python.problem((3, 12, 1), ">=3.11,<3.12")
    assert check_python.problem((3, 10, 13), ">=3.11,<3.12")
    makefile = (ROOT / "Makefile").read_text()
    install = makefile.split("$(VENV)/.installed:")[1].split("\n\n")[0]
    assert install.index("tools/check_python.py") < install.index("-m venv")
