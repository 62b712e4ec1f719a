"""the outbox notifies its relay: a statement trigger sends NOTIFY outbox, '<producer>' for the
rows an INSERT wrote, delivered at commit; relays LISTEN instead of polling every 0.5 s
(issue 20, servicekit/migrations.py)

Revision ID: a20c0e1f5b01
Revises: e3a1c5b7d9f2
Create Date: 2026-12-03 13:00:00.000000
"""

from servicekit.migrations import create_outbox_notify, drop_outbox_notify

revision = "a20c0e1f5b01"
down_revision = "e3a1c5b7d9f2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_notify()


def downgrade() -> None:
    drop_outbox_notify()
