"""ix_certificates_accounting: the active certificates never financed, by municipality and
issue order, for the calendar's finance_registered (issue 20, docs/certificates.md)

Revision ID: a20c0e1f5b13
Revises: a20c0e1f5b03
Create Date: 2026-12-03 13:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "a20c0e1f5b13"
down_revision = "a20c0e1f5b03"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_certificates_accounting",
        "certificates",
        ["municipality_code", "id"],
        unique=False,
        postgresql_where=sa.text("type = 'accounting' AND status = 'active'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_certificates_accounting",
        table_name="certificates",
        postgresql_where=sa.text("type = 'accounting' AND status = 'active'"),
    )
