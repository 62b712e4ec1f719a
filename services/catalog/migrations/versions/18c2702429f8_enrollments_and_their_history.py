"""enrollments and their history

Revision ID: 18c2702429f8
Revises: 9d8c94c0ea4d
Create Date: 2026-11-29 16:09:20.033404
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "18c2702429f8"
down_revision = "9d8c94c0ea4d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SEQUENCE enrollment_arrival_seq")
    op.create_table(
        "enrollments",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("organization_municipality", sa.String(length=64), nullable=False),
        sa.Column("child_municipality", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("arrival", sa.BigInteger(), nullable=False),
        sa.Column("seat_held", sa.Boolean(), nullable=False),
        sa.Column("accept_copay", sa.Boolean(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("terms", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=True),
        sa.Column("certificate_number", sa.String(length=20), nullable=True),
        sa.Column("money", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decide_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("effective_end_date", sa.Date(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["study_groups.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_enrollments_decide_by",
        "enrollments",
        ["decide_by"],
        unique=False,
        postgresql_where=sa.text("status = 'awaiting_provider'"),
    )
    op.create_index("ix_enrollments_group", "enrollments", ["group_id", "status"], unique=False)
    op.create_index(
        "ix_enrollments_organization", "enrollments", ["organization_id", "status"], unique=False
    )
    op.create_index("ix_enrollments_parent", "enrollments", ["parent_id"], unique=False)
    op.create_index(
        "ix_enrollments_unsettled",
        "enrollments",
        ["updated_at"],
        unique=False,
        postgresql_where=sa.text("money IN ('pending', 'release_pending')"),
    )
    op.create_index(
        "ix_enrollments_waiting",
        "enrollments",
        ["group_id", "arrival"],
        unique=False,
        postgresql_where=sa.text("status IN ('requested', 'waitlisted') AND NOT seat_held"),
    )
    op.create_index(
        "uq_enrollments_live_child_group",
        "enrollments",
        ["child_id", "group_id"],
        unique=True,
        postgresql_where=sa.text(
            "status IN ('requested', 'waitlisted', 'awaiting_provider', 'enrolled')"
        ),
    )
    op.create_table(
        "enrollment_history",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("enrollment_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=50), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(["enrollment_id"], ["enrollments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_enrollment_history_enrollment_id"),
        "enrollment_history",
        ["enrollment_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_enrollment_history_enrollment_id"), table_name="enrollment_history")
    op.drop_table("enrollment_history")
    op.drop_index(
        "uq_enrollments_live_child_group",
        table_name="enrollments",
        postgresql_where=sa.text(
            "status IN ('requested', 'waitlisted', 'awaiting_provider', 'enrolled')"
        ),
    )
    op.drop_index(
        "ix_enrollments_waiting",
        table_name="enrollments",
        postgresql_where=sa.text("status IN ('requested', 'waitlisted') AND NOT seat_held"),
    )
    op.drop_index(
        "ix_enrollments_unsettled",
        table_name="enrollments",
        postgresql_where=sa.text("money IN ('pending', 'release_pending')"),
    )
    op.drop_index("ix_enrollments_parent", table_name="enrollments")
    op.drop_index("ix_enrollments_organization", table_name="enrollments")
    op.drop_index("ix_enrollments_group", table_name="enrollments")
    op.drop_index(
        "ix_enrollments_decide_by",
        table_name="enrollments",
        postgresql_where=sa.text("status = 'awaiting_provider'"),
    )
    op.drop_table("enrollments")
    op.execute("DROP SEQUENCE enrollment_arrival_seq")
