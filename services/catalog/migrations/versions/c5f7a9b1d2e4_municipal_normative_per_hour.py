"""the normative cost of an hour, per municipality: the operator's figure for groups' normatives

Revision ID: c5f7a9b1d2e4
Revises: b4e6f1a2c3d5
Create Date: 2026-12-03 07:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "c5f7a9b1d2e4"
down_revision = "b4e6f1a2c3d5"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "municipal_normatives",
        sa.Column(
            "municipality_code",
            sa.String(64),
            sa.ForeignKey("municipalities.code"),
            primary_key=True,
        ),
        sa.Column("per_hour_kopecks", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("per_hour_kopecks >= 0", name="ck_municipal_normatives_not_negative"),
    )


def downgrade() -> None:
    op.drop_table("municipal_normatives")
