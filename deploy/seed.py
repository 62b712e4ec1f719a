"""Loads the demo data into every service's database, in dependency order: the data is made
here (deploy/demo_region.py) and handed to each service's seed, which only knows how to load
it; a service never imports deploy/ (tests/unit/test_boundaries.py).

python -m deploy.seed                  # load (each seed is idempotent)
python -m deploy.seed --if-empty       # only into empty databases, as `make run` does
python -m deploy.seed --only catalog   # one service's seed (repeat --only for more)
"""

import argparse
import sys
import traceback
from collections.abc import Callable
from functools import cache

from deploy import demo_region
from servicekit import config


@cache
def region() -> demo_region.DemoRegion:
    """The demo region, made once (a second or two) and only when a seed needs it."""
    return demo_region.generate()


def seed_catalog(if_empty: bool) -> str:
    from services.catalog import seed

    return seed.load(region, if_empty)


def seed_accounts(if_empty: bool) -> str:
    from services.accounts import seed

    return seed.load(region, if_empty)


def seed_enrollment(if_empty: bool) -> str:
    from services.enrollment import seed

    return seed.seed(if_empty)


def seed_certificates(if_empty: bool) -> str:
    from services.certificates import seed

    return seed.load(demo_region.municipalities(), if_empty)


# the catalog's demo region first: accounts' provider staff belong to its organizations, and
# enrollment clears what applied to the region before; certificates last: it issues
# certificates to the demo parent's children
SEEDS: dict[str, Callable[[bool], str]] = {
    "catalog": seed_catalog,
    "enrollment": seed_enrollment,
    "accounts": seed_accounts,
    "certificates": seed_certificates,
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.seed")
    parser.add_argument("--if-empty", action="store_true", help="only into empty databases")
    parser.add_argument("--only", action="append", choices=list(SEEDS), help="these seeds only")
    args = parser.parse_args(argv)
    if config.is_production():
        # demo users share a public password: never in a production database
        print("demo data is not loaded when NAVIGATOR_ENV=production", file=sys.stderr)
        return 0
    for name, load in SEEDS.items():
        if args.only and name not in args.only:
            continue
        try:
            print(load(args.if_empty), flush=True)
        except Exception:  # noqa: BLE001 - told, and the next seeds are not run
            traceback.print_exc()
            print(f"seed {name} failed", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
