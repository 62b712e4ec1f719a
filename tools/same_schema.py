"""Do two versions of the Alembic histories build the same databases? A squash of a history
into a baseline (docs/migrations.md) must change nothing a database holds:

    .venv/bin/python tools/same_schema.py REF          # REF's histories against the worktree's
    .venv/bin/python tools/same_schema.py REF --keep DIR   # and leave the dumps in DIR
    .venv/bin/python tools/same_schema.py REF catalog      # only the catalog's database

For each database owner (servicekit.config.DATABASE_OWNERS) it migrates two fresh databases
to head, one with the migrations/ directories of git REF (taken with `git archive`), one
with this worktree's, and compares `pg_dump --schema-only --no-owner` of both, then a data
dump (`pg_dump --data-only`: the rows the migrations insert, the sequences' values, the
alembic_version row), then what `alembic downgrade base` leaves (where REF's history refused
to go down, as the catalog's did, what the worktree's leaves is only listed). Exit status 1,
and the diff, on any difference. pg_dump sorts objects by kind and name, so two equal
schemas dump alike whatever order their migrations made them in; only pg_dump's banner
lines (the server's and pg_dump's versions) and its \\restrict lines (new in 15.14, with a
random key on every run) are dropped. Needs pg_dump on PATH and the PostgreSQL server of
DATABASE_URL; the databases it makes (same_schema_<owner>_<random>) are dropped at the end.
REF's migrations run with this worktree's code (servicekit.migrations' steps, what they
import): a change there is not what this compares.
"""

import argparse
import difflib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import uuid
from pathlib import Path

from alembic import command
from sqlalchemy.engine import make_url

from servicekit import config, migrate

ROOT = Path(__file__).resolve().parents[1]


def migrations_of(ref: str, into: Path) -> Path:
    """Extract every owner's migrations/ directory as it is at git `ref` under `into`."""
    paths = [
        str(migrate.migrations_dir(owner).relative_to(ROOT)) for owner in config.DATABASE_OWNERS
    ]
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, *paths], cwd=ROOT, check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def pg_dump(url: str, *options: str) -> str:
    target = make_url(url)
    argv = ["pg_dump", "--no-owner", *options, "--dbname", target.database]
    argv += ["--host", target.host or "127.0.0.1", "--port", str(target.port or 5432)]
    argv += ["--username", target.username or "postgres"]
    env = {**os.environ, "PGPASSWORD": target.password or ""}
    out = subprocess.run(argv, check=True, capture_output=True, text=True, env=env).stdout
    return "".join(
        line
        for line in out.splitlines(keepends=True)
        if not line.startswith(("-- Dumped from", "-- Dumped by", "\\restrict", "\\unrestrict"))
    )


def dumps(owner: str, root: Path) -> dict[str, str]:
    """Migrate a fresh database of `owner` with the migrations under `root`; its dumps."""
    url = make_url(config.database_url(owner)).set(
        database=f"same_schema_{owner}_{uuid.uuid4().hex[:8]}"
    )
    url = url.render_as_string(hide_password=False)
    migrate.create_database(url)
    try:
        cfg = migrate.alembic_config(owner, url)
        base = migrate.migrations_dir(owner).relative_to(ROOT)
        cfg.set_main_option("script_location", str(root / base))
        command.upgrade(cfg, "head")
        found = {"schema": pg_dump(url, "--schema-only"), "data": pg_dump(url, "--data-only")}
        try:
            command.downgrade(cfg, "base")
        except Exception as refused:  # a history may refuse it (the catalog's did)
            found["after-downgrade"] = f"downgrade refused: {refused!r}\n"
        else:
            found["after-downgrade"] = pg_dump(url)
        return found
    finally:
        migrate.drop_database(url)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tools/same_schema.py")
    parser.add_argument("ref", help="the git revision whose histories are the reference")
    parser.add_argument("owners", nargs="*", help="only these owners (all by default)")
    parser.add_argument("--keep", type=Path, help="write the dumps into this directory")
    args = parser.parse_args(argv)
    different = False
    with tempfile.TemporaryDirectory() as tmp:
        before = migrations_of(args.ref, Path(tmp))
        for owner in args.owners or config.DATABASE_OWNERS:
            old, new = dumps(owner, before), dumps(owner, ROOT)
            for kind in old:
                if kind == "after-downgrade" and old[kind].startswith("downgrade refused"):
                    print(f"{owner:14} {kind:16} at {args.ref}: {old[kind].strip()}")
                    left = [
                        ln.rstrip(" (;") for ln in new[kind].splitlines() if ln.startswith("CREATE")
                    ]
                    print(f"{owner:14} {kind:16} in the worktree leaves: {'; '.join(left)}")
                    continue
                if args.keep:
                    args.keep.mkdir(parents=True, exist_ok=True)
                    (args.keep / f"{owner}.{kind}.{args.ref}.sql").write_text(old[kind])
                    (args.keep / f"{owner}.{kind}.worktree.sql").write_text(new[kind])
                diff = list(
                    difflib.unified_diff(
                        old[kind].splitlines(keepends=True),
                        new[kind].splitlines(keepends=True),
                        f"{owner} {kind} at {args.ref}",
                        f"{owner} {kind} in the worktree",
                    )
                )
                lines = len(old[kind].splitlines())
                print(f"{owner:14} {kind:16} {lines:5} lines, {len(diff):3} diff lines")
                if diff:
                    different = True
                    sys.stdout.writelines(diff)
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
