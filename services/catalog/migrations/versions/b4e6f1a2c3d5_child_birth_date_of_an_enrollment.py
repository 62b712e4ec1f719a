"""the child's birth date on an enrollment: the sweep ends a contract at the 18th birthday

Revision ID: b4e6f1a2c3d5
Revises: 8a3c5d7e9f10
Create Date: 2026-12-03 07:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "b4e6f1a2c3d5"
down_revision = "8a3c5d7e9f10"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # null on enrollments made before: the sweep learns it from accounts then
    op.add_column("enrollments", sa.Column("child_birth_date", sa.Date(), nullable=True))
    op.create_index(
        "ix_enrollments_enrolled_birth",
        "enrollments",
        ["child_birth_date"],
        postgresql_where=sa.text("status = 'enrolled'"),
    )


def downgrade() -> None:
    op.drop_index("ix_enrollments_enrolled_birth", table_name="enrollments")
    op.drop_column("enrollments", "child_birth_date")
