"""enrollments without ix_enrollments_group (group_id, status): every status update of an
application rewrote it (0 % of the updates are HOT: status, money and updated_at are in the
other indexes' keys or predicates) and no query needs it (issue 20, docs/enrollment.md)

Revision ID: a20c0e1f5b14
Revises: a20c0e1f5b04
Create Date: 2026-12-03 13:10:00.000000
"""

from alembic import op

revision = "a20c0e1f5b14"
down_revision = "a20c0e1f5b04"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_enrollments_group", table_name="enrollments")


def downgrade() -> None:
    op.create_index("ix_enrollments_group", "enrollments", ["group_id", "status"], unique=False)
