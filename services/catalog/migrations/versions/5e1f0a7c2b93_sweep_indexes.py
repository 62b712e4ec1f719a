"""indexes for enrollment's sweep: ended groups, terminations whose seat is due back

Revision ID: 5e1f0a7c2b93
Revises: 5b0e7d2a41c3
Create Date: 2026-11-29 19:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "5e1f0a7c2b93"
down_revision = "5b0e7d2a41c3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_study_groups_end_date", "study_groups", ["end_date"])
    op.create_index(
        "ix_enrollments_seats_due_back",
        "enrollments",
        ["effective_end_date"],
        postgresql_where=sa.text("status = 'terminated' AND seat_held"),
    )


def downgrade() -> None:
    op.drop_index("ix_enrollments_seats_due_back", table_name="enrollments")
    op.drop_index("ix_study_groups_end_date", table_name="study_groups")
