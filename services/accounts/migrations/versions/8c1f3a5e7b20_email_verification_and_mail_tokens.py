"""e-mail verification and single-use mail tokens (confirmation, password reset)

Revision ID: 8c1f3a5e7b20
Revises: 4b6f0c2e9a17
Create Date: 2026-12-03 07:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "8c1f3a5e7b20"
down_revision = "4b6f0c2e9a17"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True)
    )
    # everyone registered before confirmation existed keeps what they could do
    op.execute("UPDATE users SET email_verified_at = created_at")
    op.create_table(
        "mail_tokens",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("purpose IN ('verify_email', 'reset_password')", name="ck_mail_purpose"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_mail_tokens_user", "mail_tokens", ["user_id", "purpose"])


def downgrade() -> None:
    op.drop_index("ix_mail_tokens_user", table_name="mail_tokens")
    op.drop_table("mail_tokens")
    op.drop_column("users", "email_verified_at")
