"""outbox and processed events

Revision ID: 0d0e01a4b9db
Revises:
Create Date: 2026-11-28 09:28:21.329609
"""

from servicekit.migrations import create_outbox_tables, drop_outbox_tables

revision = "0d0e01a4b9db"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_tables()


def downgrade() -> None:
    drop_outbox_tables()
