"""contracts.attends_until: the child's last day in the group when an enrollment ends early

Revision ID: 7c4f2a9e1d30
Revises: 5e1c0a7d9b21
Create Date: 2026-12-03 10:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "7c4f2a9e1d30"
down_revision = "5e1c0a7d9b21"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contracts", sa.Column("attends_until", sa.Date(), nullable=True))
    op.create_check_constraint(
        "ck_contracts_attends_until",
        "contracts",
        "attends_until IS NULL OR attends_until BETWEEN start_date AND end_date",
    )


def downgrade() -> None:
    op.drop_constraint("ck_contracts_attends_until", "contracts", type_="check")
    op.drop_column("contracts", "attends_until")
