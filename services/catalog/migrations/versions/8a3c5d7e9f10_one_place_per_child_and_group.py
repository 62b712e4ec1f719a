"""one place per child and group: a termination keeps the child's place until its last day

Revision ID: 8a3c5d7e9f10
Revises: 5e1f0a7c2b93
Create Date: 2026-11-29 20:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "8a3c5d7e9f10"
down_revision = "5e1f0a7c2b93"
branch_labels = None
depends_on = None

LIVE = "status IN ('requested', 'waitlisted', 'awaiting_provider', 'enrolled')"


def upgrade() -> None:
    op.create_index(
        "uq_enrollments_place_child_group",
        "enrollments",
        ["child_id", "group_id"],
        unique=True,
        postgresql_where=sa.text(f"({LIVE} OR (status = 'terminated' AND seat_held))"),
    )
    op.drop_index("uq_enrollments_live_child_group", table_name="enrollments")


def downgrade() -> None:
    op.create_index(
        "uq_enrollments_live_child_group",
        "enrollments",
        ["child_id", "group_id"],
        unique=True,
        postgresql_where=sa.text(LIVE),
    )
    op.drop_index("uq_enrollments_place_child_group", table_name="enrollments")
