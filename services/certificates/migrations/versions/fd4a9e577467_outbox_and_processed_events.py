"""outbox and processed events

Revision ID: fd4a9e577467
Revises:
Create Date: 2026-11-28 09:28:22.822536
"""

from servicekit.migrations import create_outbox_tables, drop_outbox_tables

revision = "fd4a9e577467"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_tables()


def downgrade() -> None:
    drop_outbox_tables()
