"""child applications: which organization each child applied to, from enrollment's events

Revision ID: 4b6f0c2e9a17
Revises: d5d13aefbdbe
Create Date: 2026-11-29 19:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "4b6f0c2e9a17"
down_revision = "d5d13aefbdbe"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "child_applications",
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("organization_id", "child_id"),
    )
    op.create_index("ix_child_applications_child", "child_applications", ["child_id"])


def downgrade() -> None:
    op.drop_index("ix_child_applications_child", table_name="child_applications")
    op.drop_table("child_applications")
