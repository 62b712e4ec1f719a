"""Enrollment's part of the demo data: none of its own. When the demo region is loaded anew
(`make seed`), the applications, seats and group facts of the region before are cleared with
it; the new region's groups are learnt from the catalog when first applied to
(services/enrollment/groups.py).

    python -m services.enrollment.seed             # clear what the region before left
    python -m services.enrollment.seed --if-empty  # leave it as it is (make run)
"""

import argparse
import sys

from servicekit.db import make_engine

TABLES = "enrollment_history, enrollments, seat_holds, groups"


def seed(if_empty: bool = False) -> str:
    if if_empty:
        return "enrollment: left as it is (its groups are learnt from the catalog)"
    engine = make_engine("enrollment")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {TABLES}")
        return "enrollment: applications and groups of the region before cleared"
    finally:
        engine.dispose()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.enrollment.seed")
    parser.add_argument("--if-empty", action="store_true", help="leave a non-empty one")
    args = parser.parse_args(argv)
    print(seed(args.if_empty))
    return 0


if __name__ == "__main__":
    sys.exit(main())
