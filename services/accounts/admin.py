"""Operator commands of the accounts service.

    python -m services.accounts.admin create-regional-operator --email E --full-name "N"

The password is read from the environment variable OPERATOR_PASSWORD, or asked twice on the
terminal; it must satisfy the password policy. `make regional-operator EMAIL=... NAME=...`.
"""

import argparse
import getpass
import os
import sys

from sqlalchemy.orm import Session

from servicekit.db import make_engine
from servicekit.errors import NavigatorError
from services.accounts import operations
from services.accounts.domain import REGIONAL_OPERATOR


def create_regional_operator(email: str, full_name: str, password: str) -> dict:
    """Creates a regional operator directly in the database (nobody exists yet to do it)."""
    engine = make_engine("accounts", pool_size=1, max_overflow=0)
    try:
        with Session(engine, info={"producer": "accounts"}) as session:
            user = operations.create_staff(
                session,
                operations.Passwords(),
                None,
                {
                    "email": email,
                    "full_name": full_name,
                    "password": password,
                    "role": REGIONAL_OPERATOR,
                },
                None,
            )
            session.commit()
            return user
    finally:
        engine.dispose()


def _password() -> str:
    password = os.environ.get("OPERATOR_PASSWORD")
    if password:
        return password
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat the password: "):
        raise SystemExit("The passwords differ")
    return first


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.accounts.admin")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create-regional-operator", help="the first regional operator")
    create.add_argument("--email", required=True)
    create.add_argument("--full-name", required=True)
    args = parser.parse_args(argv)
    try:
        user = create_regional_operator(args.email, args.full_name, _password())
    except NavigatorError as error:
        details = "; ".join(f"{k}: {', '.join(v)}" for k, v in error.fields.items())
        print(f"refused: {error.message}" + (f" ({details})" if details else ""), file=sys.stderr)
        return 1
    print(f"regional operator {user['email']} created, id {user['id']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
