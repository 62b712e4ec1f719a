"""enrollment's baseline: applications and their history, the groups as enrollment knows
them with their seats and seat holds, the children kept from accounts' events, deadline
notices, the outbox

What the five migrations of its history made, squashed before launch under the id of its
head (docs/migrations.md).
No index on enrollments (group_id, status): every status update of an application rewrote
it and no query needs it (issue 20, docs/enrollment.md).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from servicekit import migrations

revision = "a20c0e1f5b34"
down_revision = None


def upgrade() -> None:
    migrations.create_outbox_tables()
    op.execute("CREATE SEQUENCE enrollment_arrival_seq")
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("organization_municipality", sa.String(length=64), nullable=False),
        sa.Column("organization_status", sa.String(length=20), nullable=False),
        sa.Column("program_status", sa.String(length=20), nullable=False),
        sa.Column("direction", sa.String(length=30), nullable=False),
        sa.Column("registry", sa.String(length=30), nullable=False),
        sa.Column("certified", sa.Boolean(), nullable=False),
        sa.Column("schedule", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("min_age", sa.Integer(), nullable=False),
        sa.Column("max_age", sa.Integer(), nullable=False),
        sa.Column("price_kopecks", sa.BigInteger(), nullable=False),
        sa.Column("normative_cost_kopecks", sa.BigInteger(), nullable=False),
        sa.Column("enrollment_open", sa.Boolean(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("enrolled", sa.Integer(), nullable=False),
        sa.Column("seats_version", sa.BigInteger(), nullable=False),
        sa.Column(
            "facts_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("held + enrolled <= capacity", name="ck_groups_not_overbooked"),
        sa.CheckConstraint("held >= 0 AND enrolled >= 0", name="ck_groups_seats_positive"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_groups_end_date", "groups", ["end_date"])
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
        sa.Column("child_birth_date", sa.Date(), nullable=True),
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
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_enrollments_decide_by",
        "enrollments",
        ["decide_by"],
        postgresql_where=sa.text("status = 'awaiting_provider'"),
    )
    op.create_index(
        "ix_enrollments_enrolled_birth",
        "enrollments",
        ["child_birth_date"],
        postgresql_where=sa.text("status = 'enrolled'"),
    )
    op.create_index("ix_enrollments_organization", "enrollments", ["organization_id", "status"])
    op.create_index("ix_enrollments_parent", "enrollments", ["parent_id"])
    op.create_index(
        "ix_enrollments_seats_due_back",
        "enrollments",
        ["effective_end_date"],
        postgresql_where=sa.text("status = 'terminated' AND seat_held"),
    )
    op.create_index(
        "ix_enrollments_unsettled",
        "enrollments",
        ["updated_at"],
        postgresql_where=sa.text("money IN ('pending', 'release_pending')"),
    )
    op.create_index(
        "ix_enrollments_waiting",
        "enrollments",
        ["group_id", "arrival"],
        postgresql_where=sa.text("status IN ('requested', 'waitlisted') AND NOT seat_held"),
    )
    op.create_index(
        "uq_enrollments_place_child_group",
        "enrollments",
        ["child_id", "group_id"],
        unique=True,
        postgresql_where=sa.text(
            "(status IN ('requested', 'waitlisted', 'awaiting_provider', 'enrolled') OR (status = 'terminated' AND seat_held))"
        ),
    )
    op.create_table(
        "seat_holds",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"]),
        sa.PrimaryKeyConstraint("group_id", "holder"),
    )
    op.create_table(
        "enrollment_history",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("enrollment_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=50), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["enrollment_id"], ["enrollments.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_enrollment_history_enrollment_id", "enrollment_history", ["enrollment_id"])
    # the facts enrollment keeps of a child from accounts' child_changed (parent, birth date,
    # municipality; the newest changed_at wins), so an application does not ask accounts
    op.create_table(
        "children",
        sa.Column("child_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("municipality_code", sa.String(length=64), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("child_id"),
    )
    # what the calendar's deadline_reminders announced for the day the decisions are due,
    # so each is emitted once (issue 23, docs/notifications.md)
    op.create_table(
        "deadline_notices",
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column(
            "announced_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "kind IN ('application_expiring', 'decisions_due_tomorrow')",
            name="deadline_notice_kind",
        ),
        sa.PrimaryKeyConstraint("kind", "subject", "due_on"),
    )
    migrations.create_outbox_notify()


def downgrade() -> None:
    migrations.drop_outbox_notify()
    for table in ("deadline_notices", "children", "enrollment_history", "seat_holds"):
        op.drop_table(table)
    op.drop_table("enrollments")
    op.drop_table("groups")
    op.execute("DROP SEQUENCE enrollment_arrival_seq")
    migrations.drop_outbox_tables()
