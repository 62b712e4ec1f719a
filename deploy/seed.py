"""Loads every service's demo data, in dependency order.

python -m deploy.seed             # load (each seed is idempotent)
python -m deploy.seed --if-empty  # only into empty databases, as `make run` does
"""

import subprocess
import sys

# the catalog's demo region first: accounts' provider staff belong to its organizations
SEEDS = ["services.catalog.seed", "services.accounts.seed"]


def main(argv: list[str]) -> int:
    for module in SEEDS:
        result = subprocess.run([sys.executable, "-m", module, *argv])
        if result.returncode != 0:
            print(f"seed {module} failed", file=sys.stderr)
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
