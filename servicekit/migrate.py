"""Databases and Alembic histories, one per service.

python -m servicekit.migrate create             # create missing databases
python -m servicekit.migrate upgrade [SERVICE]  # apply migrations (all services by default)
python -m servicekit.migrate revision SERVICE -m "why"   # autogenerate a migration
"""

import argparse
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from servicekit import config

ROOT = Path(__file__).resolve().parent.parent


def migrations_dir(service: str) -> Path:
    base = ROOT / "gateway" if service == "gateway" else ROOT / "services" / service
    return base / "migrations"


def alembic_config(service: str, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir(service)))
    cfg.set_main_option("sqlalchemy.url", (url or config.database_url(service)).replace("%", "%%"))
    cfg.attributes["service"] = service
    return cfg


def create_database(url: str) -> bool:
    """Create the database named in `url` if it does not exist; True if it was created."""
    target = make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}
            ).scalar()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
            return not exists
    finally:
        admin.dispose()


def drop_database(url: str) -> None:
    target = make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    finally:
        admin.dispose()


def upgrade(service: str, url: str | None = None) -> None:
    command.upgrade(alembic_config(service, url), "head")


def run_env(target_metadata, messaging: bool = True) -> None:
    """The body of every service's migrations/env.py; `messaging` adds outbox tables."""
    from alembic import context

    from servicekit.outbox import metadata as messaging_metadata

    metadatas = [target_metadata, messaging_metadata] if messaging else [target_metadata]
    url = context.config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=metadatas, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadatas,
            compare_type=True,
            compare_server_default=False,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m servicekit.migrate")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("create")
    up = sub.add_parser("upgrade")
    up.add_argument("services", nargs="*")
    rev = sub.add_parser("revision")
    rev.add_argument("service")
    rev.add_argument("-m", "--message", required=True)
    args = parser.parse_args(argv)
    if args.command == "create":
        for service in config.DATABASE_OWNERS:
            created = create_database(config.database_url(service))
            print(f"{service}: {'created' if created else 'exists'}")
    elif args.command == "upgrade":
        for service in args.services or config.DATABASE_OWNERS:
            upgrade(service)
            print(f"{service}: at head")
    else:
        command.revision(alembic_config(args.service), message=args.message, autogenerate=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
