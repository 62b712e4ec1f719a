"""outbox and processed events

Revision ID: 499a9da03b9e
Revises:
Create Date: 2026-11-28 09:28:23.544962
"""

from servicekit.migrations import create_outbox_tables, drop_outbox_tables

revision = "499a9da03b9e"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_tables()


def downgrade() -> None:
    drop_outbox_tables()
