"""billing deadlines, unrecorded months, correction invoices, advance months

Revision ID: 5e1c0a7d9b21
Revises: 284d35a0ab38
Create Date: 2026-12-03 07:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "5e1c0a7d9b21"
down_revision = "284d35a0ab38"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("municipality_settings", "completeness_mode", server_default="delivered")
    op.add_column(
        "municipality_settings",
        sa.Column("submission_workday", sa.Integer(), server_default="3", nullable=False),
    )
    op.add_column(
        "municipality_settings",
        sa.Column("unrecorded_percent", sa.Integer(), server_default="100", nullable=False),
    )
    op.create_check_constraint(
        "ck_settings_submission_workday",
        "municipality_settings",
        "submission_workday BETWEEN 1 AND 20",
    )
    op.create_check_constraint(
        "ck_settings_unrecorded_percent",
        "municipality_settings",
        "unrecorded_percent BETWEEN 0 AND 100",
    )
    op.add_column("invoices", sa.Column("number", sa.Integer(), server_default="0", nullable=False))
    op.drop_constraint("uq_invoices_key", "invoices", type_="unique")
    op.create_unique_constraint(
        "uq_invoices_key",
        "invoices",
        ["organization_id", "municipality_code", "month", "kind", "number"],
    )
    op.drop_constraint("ck_invoices_kind", "invoices", type_="check")
    op.create_check_constraint(
        "ck_invoices_kind", "invoices", "kind IN ('advance', 'final', 'correction')"
    )
    op.create_check_constraint(
        "ck_invoices_correction_number", "invoices", "(kind = 'correction') = (number > 0)"
    )
    op.create_table(
        "advance_months",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("invoices", sa.Integer(), nullable=False),
        sa.Column(
            "issued_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("month"),
    )


def downgrade() -> None:
    op.drop_table("advance_months")
    op.execute("DELETE FROM invoices WHERE kind = 'correction'")
    op.drop_constraint("ck_invoices_correction_number", "invoices", type_="check")
    op.drop_constraint("ck_invoices_kind", "invoices", type_="check")
    op.create_check_constraint("ck_invoices_kind", "invoices", "kind IN ('advance', 'final')")
    op.drop_constraint("uq_invoices_key", "invoices", type_="unique")
    op.create_unique_constraint(
        "uq_invoices_key", "invoices", ["organization_id", "municipality_code", "month", "kind"]
    )
    op.drop_column("invoices", "number")
    op.drop_constraint("ck_settings_unrecorded_percent", "municipality_settings", type_="check")
    op.drop_constraint("ck_settings_submission_workday", "municipality_settings", type_="check")
    op.drop_column("municipality_settings", "unrecorded_percent")
    op.drop_column("municipality_settings", "submission_workday")
    op.alter_column("municipality_settings", "completeness_mode", server_default=None)
