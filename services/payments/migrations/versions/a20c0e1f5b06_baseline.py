"""payments' baseline: contracts and their months, lessons and attendance, billing runs and
their charges, invoices (advance, final, corrections), advance months, municipality
settings, the outbox

What the five migrations of its history made, squashed before launch under the id of its
head (docs/migrations.md).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from servicekit import migrations

revision = "a20c0e1f5b06"
down_revision = None


def upgrade() -> None:
    migrations.create_outbox_tables()
    op.create_table(
        "billing_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("contracts_total", sa.Integer(), nullable=False),
        sa.Column(
            "started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('running', 'completed')", name="ck_billing_runs_status"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_billing_runs_month", "billing_runs", ["month"])
    op.create_table(
        "contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.String(length=36), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("organization_municipality_code", sa.String(length=100), nullable=False),
        sa.Column("payer_municipality_code", sa.String(length=100), nullable=False),
        sa.Column("direction", sa.String(length=30), nullable=False),
        sa.Column("registry_code", sa.String(length=30), nullable=False),
        sa.Column("certificate_number", sa.String(length=10), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("planned_end_date", sa.Date(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("normative_cost", sa.BigInteger(), nullable=False),
        sa.Column("certificate_share", sa.BigInteger(), nullable=False),
        sa.Column("copay", sa.BigInteger(), nullable=False),
        sa.Column("group_schedule", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("termination_reason", sa.String(length=300), nullable=True),
        sa.Column("terminated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        # the child's last day in the group when an enrollment ends early
        sa.Column("attends_until", sa.Date(), nullable=True),
        sa.CheckConstraint("status IN ('active', 'terminated')", name="ck_contracts_status"),
        sa.CheckConstraint(
            "attends_until IS NULL OR attends_until BETWEEN start_date AND end_date",
            name="ck_contracts_attends_until",
        ),
        sa.CheckConstraint("certificate_share + copay = total", name="ck_contracts_parts"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("enrollment_id"),
    )
    op.create_index("ix_contracts_child", "contracts", ["child_id"])
    op.create_index("ix_contracts_group", "contracts", ["group_id"])
    op.create_index("ix_contracts_organization", "contracts", ["organization_id"])
    op.create_index("ix_contracts_payer", "contracts", ["payer_municipality_code"])
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("municipality_code", sa.String(length=100), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column(
            "issued_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_by", sa.Integer(), nullable=True),
        # a correction invoice is numbered (1, 2, ...), the advance and the final are not
        sa.Column("number", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("kind IN ('advance', 'final', 'correction')", name="ck_invoices_kind"),
        sa.CheckConstraint(
            "(kind = 'correction') = (number > 0)", name="ck_invoices_correction_number"
        ),
        sa.CheckConstraint("status IN ('issued', 'paid')", name="ck_invoices_status"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "organization_id",
            "municipality_code",
            "month",
            "kind",
            "number",
            name="uq_invoices_key",
        ),
    )
    op.create_index("ix_invoices_municipality", "invoices", ["municipality_code", "month"])
    op.create_index("ix_invoices_organization_id", "invoices", ["organization_id"])
    op.create_table(
        "lessons",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("lesson_date", sa.Date(), nullable=False),
        sa.Column("start_time", sa.String(length=5), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("status IN ('held', 'cancelled')", name="ck_lessons_status"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("group_id", "lesson_date", "start_time", name="uq_lessons_slot"),
    )
    op.create_table(
        "municipality_settings",
        sa.Column("municipality_code", sa.String(length=100), nullable=False),
        sa.Column(
            "completeness_mode", sa.String(length=20), server_default="delivered", nullable=False
        ),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        # the submission deadline (the N-th working day of the next month) and the share of
        # the plan a month with no lesson recorded is billed at (docs/payments.md)
        sa.Column("submission_workday", sa.Integer(), server_default="3", nullable=False),
        sa.Column("unrecorded_percent", sa.Integer(), server_default="100", nullable=False),
        sa.CheckConstraint(
            "completeness_mode IN ('delivered', 'attended')", name="ck_settings_completeness"
        ),
        sa.CheckConstraint(
            "submission_workday BETWEEN 1 AND 20", name="ck_settings_submission_workday"
        ),
        sa.CheckConstraint(
            "unrecorded_percent BETWEEN 0 AND 100", name="ck_settings_unrecorded_percent"
        ),
        sa.PrimaryKeyConstraint("municipality_code"),
    )
    op.create_table(
        "attendance",
        sa.Column("lesson_id", sa.BigInteger(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["lesson_id"], ["lessons.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("lesson_id", "child_id"),
    )
    op.create_table(
        "charges",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.String(length=36), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("payer_municipality_code", sa.String(length=100), nullable=False),
        sa.Column("direction", sa.String(length=30), nullable=False),
        sa.Column("completeness_mode", sa.String(length=20), nullable=False),
        sa.Column("lessons_scheduled", sa.Integer(), nullable=False),
        sa.Column("lessons_held", sa.Integer(), nullable=False),
        sa.Column("lessons_attended", sa.Integer(), nullable=False),
        sa.Column("completeness", sa.Numeric(precision=9, scale=6), nullable=False),
        sa.Column("certificate_planned", sa.BigInteger(), nullable=False),
        sa.Column("certificate_charged", sa.BigInteger(), nullable=False),
        sa.Column("certificate_released", sa.BigInteger(), nullable=False),
        sa.Column("copay_planned", sa.BigInteger(), nullable=False),
        sa.Column("copay_charged", sa.BigInteger(), nullable=False),
        sa.Column("debited", sa.BigInteger(), nullable=True),
        sa.Column("released", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("refusal", sa.String(length=300), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'posted', 'refused')", name="ck_charges_status"),
        sa.CheckConstraint(
            "certificate_charged + certificate_released = certificate_planned",
            name="ck_charges_certificate_parts",
        ),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"]),
        sa.ForeignKeyConstraint(["run_id"], ["billing_runs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contract_id", "month", name="uq_charges_contract_month"),
    )
    op.create_index("ix_charges_child", "charges", ["child_id"])
    op.create_index("ix_charges_month_status", "charges", ["month", "status", "id"])
    op.create_table(
        "contract_months",
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("certificate", sa.BigInteger(), nullable=False),
        sa.Column("copay", sa.BigInteger(), nullable=False),
        sa.Column("released", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("charged", sa.Boolean(), server_default="false", nullable=False),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"]),
        sa.PrimaryKeyConstraint("contract_id", "month"),
    )
    op.create_index("ix_contract_months_month", "contract_months", ["month", "contract_id"])
    op.create_index(
        "ix_contract_months_to_bill",
        "contract_months",
        ["month", "contract_id"],
        postgresql_where=sa.text("NOT charged AND NOT released"),
    )
    # the months whose advance invoices the calendar issued (once, on or after the 1st)
    op.create_table(
        "advance_months",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("invoices", sa.Integer(), nullable=False),
        sa.Column(
            "issued_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("month"),
    )
    migrations.create_outbox_notify()


def downgrade() -> None:
    migrations.drop_outbox_notify()
    for table in ("advance_months", "contract_months", "charges", "attendance", "lessons"):
        op.drop_table(table)
    for table in ("municipality_settings", "invoices", "contracts", "billing_runs"):
        op.drop_table(table)
    migrations.drop_outbox_tables()
