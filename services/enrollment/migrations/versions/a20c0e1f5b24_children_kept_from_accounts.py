"""children: the facts enrollment keeps of a child from accounts' child_changed (parent,
birth date, municipality; the newest changed_at wins), so an application does not ask
accounts (issue 20, services/enrollment/children.py)

Revision ID: a20c0e1f5b24
Revises: a20c0e1f5b14
Create Date: 2026-12-03 13:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "a20c0e1f5b24"
down_revision = "a20c0e1f5b14"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "children",
        sa.Column("child_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("municipality_code", sa.String(length=64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("child_id"),
    )


def downgrade() -> None:
    op.drop_table("children")
