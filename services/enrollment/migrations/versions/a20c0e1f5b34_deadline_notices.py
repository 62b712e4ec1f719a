"""deadline_notices: what the calendar's deadline_reminders announced (an application's
application_expiring, an organization's decisions_due_tomorrow) for the day the decisions
are due, so each is emitted once (issue 23, docs/notifications.md)

Revision ID: a20c0e1f5b34
Revises: a20c0e1f5b24
Create Date: 2026-12-03 14:05:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "a20c0e1f5b34"
down_revision = "a20c0e1f5b24"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deadline_notices",
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column(
            "announced_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('application_expiring', 'decisions_due_tomorrow')",
            name="deadline_notice_kind",
        ),
        sa.PrimaryKeyConstraint("kind", "subject", "due_on"),
    )


def downgrade() -> None:
    op.drop_table("deadline_notices")
