"""`python -m gateway.openapi_file [FILE]`: the OpenAPI document as the gateway serves it (for
linters and client generators: `make web-client`, `make lint-openapi`), on stdout or into
FILE. Apart from openapi.py because it loads every route (gateway.service), and the system
routes, which serve the document, import openapi.py: one module doing both was an import
cycle (tests/unit/test_boundaries.py)."""

import json
import sys

import gateway.service  # noqa: F401 - registers every route
from gateway.openapi import build_spec


def main() -> None:
    text = json.dumps(build_spec(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
