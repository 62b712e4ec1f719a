"""users.email_skeleton: what an address looks like (Unicode TR39), unique

Revision ID: e3a1c5b7d9f2
Revises: 8c1f3a5e7b20
Create Date: 2026-12-03 07:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

from services.accounts.domain import email_skeleton

revision = "e3a1c5b7d9f2"
down_revision = "8c1f3a5e7b20"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("email_skeleton", sa.Text(), nullable=True))
    conn = op.get_bind()
    seen = set()
    rows = conn.execute(sa.text("SELECT id, email FROM users ORDER BY id")).all()
    for user_id, email in rows:
        skeleton = email_skeleton(email)
        if skeleton in seen:  # an older lookalike keeps its account, without a skeleton
            continue
        seen.add(skeleton)
        conn.execute(
            sa.text("UPDATE users SET email_skeleton = :s WHERE id = :id"),
            {"s": skeleton, "id": user_id},
        )
    op.create_unique_constraint("users_email_skeleton_key", "users", ["email_skeleton"])


def downgrade() -> None:
    op.drop_constraint("users_email_skeleton_key", "users", type_="unique")
    op.drop_column("users", "email_skeleton")
