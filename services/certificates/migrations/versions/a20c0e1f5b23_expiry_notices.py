"""expiry_notices: the certificate_expiring events the calendar's announce_expiring emitted,
once per certificate and validity end; ix_certificates_valid_until for it and expire_aged
(issue 23, docs/notifications.md)

Revision ID: a20c0e1f5b23
Revises: a20c0e1f5b13
Create Date: 2026-12-03 14:05:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "a20c0e1f5b23"
down_revision = "a20c0e1f5b13"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "expiry_notices",
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column(
            "announced_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificates.id"]),
        sa.PrimaryKeyConstraint("certificate_id", "valid_until"),
    )
    op.create_index(
        "ix_certificates_valid_until",
        "certificates",
        ["valid_until"],
        unique=False,
        postgresql_where=sa.text("status <> 'expired'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_certificates_valid_until",
        table_name="certificates",
        postgresql_where=sa.text("status <> 'expired'"),
    )
    op.drop_table("expiry_notices")
