"""Loads every service's demo data, in dependency order.

python -m deploy.seed             # load (each seed is idempotent)
python -m deploy.seed --if-empty  # only into empty databases, as `make run` does
"""

import subprocess
import sys

from servicekit import config

# the catalog's demo region first: accounts' provider staff belong to its organizations, and
# enrollment clears what applied to the region before; certificates last: it issues
# certificates to the demo parent's children
SEEDS = [
    "services.catalog.seed",
    "services.enrollment.seed",
    "services.accounts.seed",
    "services.certificates.seed",
]


def main(argv: list[str]) -> int:
    if config.is_production():
        # demo users share a public password: never in a production database
        print("demo data is not loaded when NAVIGATOR_ENV=production", file=sys.stderr)
        return 0
    for module in SEEDS:
        result = subprocess.run([sys.executable, "-m", module, *argv])
        if result.returncode != 0:
            print(f"seed {module} failed", file=sys.stderr)
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
