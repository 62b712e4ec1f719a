"""outbox and processed events

Revision ID: c71790ee1b72
Revises:
Create Date: 2026-11-28 09:28:22.088514
"""

from servicekit.migrations import create_outbox_tables, drop_outbox_tables

revision = "c71790ee1b72"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_tables()


def downgrade() -> None:
    drop_outbox_tables()
