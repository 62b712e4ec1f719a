"""Says which Python the project needs when the one at hand is another (stdlib only, so it
runs under any python3): `python3 tools/check_python.py` before `make install` makes .venv.

    Navigator needs Python >=3.11,<3.12 (requires-python in pyproject.toml); python3 here
    is 3.13.0. Install 3.11 and run `make PYTHON=python3.11 run` (or put it first on PATH).
"""

import re
import sys
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def requires_python(text: str) -> str:
    match = re.search(r'^requires-python\s*=\s*"([^"]+)"', text, re.M)
    return match.group(1) if match else ""


def _tuple(version: str) -> tuple:
    return tuple(int(part) for part in version.split("."))


def problem(version: tuple, spec: str) -> bool:
    """True when `version` (major, minor, micro) is outside `spec` (>=, <, ==, comma-joined)."""
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        op, bound = re.match(r"(>=|<=|==|<|>)\s*([\d.]+)", clause).groups()
        have, want = version[: len(_tuple(bound))], _tuple(bound)
        ok = {
            ">=": have >= want,
            "<=": have <= want,
            ">": have > want,
            "<": have < want,
            "==": have == want,
        }[op]
        if not ok:
            return True
    return False


def main(argv: list) -> int:
    name = argv[1] if len(argv) > 1 else "python3"
    spec = requires_python(PYPROJECT.read_text(encoding="utf-8"))
    if not problem(tuple(sys.version_info[:3]), spec):
        return 0
    here = ".".join(str(part) for part in sys.version_info[:3])
    lowest = re.search(r">=\s*([\d.]+)", spec)
    wanted = lowest.group(1) if lowest else "a matching version"
    sys.stderr.write(
        f"Navigator needs Python {spec} (requires-python in pyproject.toml); {name} here is "
        f"{here}.\nInstall Python {wanted} and run `make PYTHON=python{wanted} ...` (or put it "
        f"first on PATH); remove .venv if it was made with another Python.\n"
    )
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
