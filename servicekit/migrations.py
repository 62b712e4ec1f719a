"""Steps that every service's Alembic history takes the same way, written once: a service's
migration calls them (servicekit/migrate.py runs the migrations).

- ``create_outbox_tables()`` / ``drop_outbox_tables()``: the ``outbox`` a service's events
  are written to in the transaction that makes them (servicekit/outbox.py relays them), with
  its partial index of what is not yet published, and ``processed_events``, the
  (event, handler) pairs a reliable handler has already carried out (servicekit/events.py).
  The DDL is exactly what each service's own copy of it made before (pg_dump --schema-only
  of freshly migrated databases, identical before and after); tests/integration/
  test_migrations.py checks it against the tables servicekit/outbox.py declares, and
  tests/unit/test_boundaries.py that no migration writes them by hand again.
- ``create_outbox_notify()`` / ``drop_outbox_notify()``: a statement trigger on ``outbox``
  that sends ``NOTIFY outbox, '<producer>'`` for the rows a statement inserted, delivered when
  the transaction commits (issue 20): relays LISTEN and wake instead of polling. No round
  trip of its own: it runs inside the INSERT that `emit`/`emit_many` already send.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

__all__ = [
    "create_outbox_notify",
    "create_outbox_tables",
    "drop_outbox_notify",
    "drop_outbox_tables",
]


def create_outbox_tables() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["id"],
        unique=False,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "processed_events",
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("handler", sa.String(length=200), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("event_id", "handler"),
    )


def drop_outbox_tables() -> None:
    op.drop_table("processed_events")
    op.drop_index(
        "ix_outbox_unpublished",
        table_name="outbox",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("outbox")


def create_outbox_notify() -> None:
    from servicekit.outbox import NOTIFY_TRIGGER_DDL

    for statement in NOTIFY_TRIGGER_DDL:
        op.execute(statement)


def drop_outbox_notify() -> None:
    from servicekit.outbox import DROP_NOTIFY_TRIGGER_DDL

    for statement in DROP_NOTIFY_TRIGGER_DDL:
        op.execute(statement)
