"""certificates' baseline: certificates, periods (never overlapping), balances, the ledger
(operations and entries), municipal funds, nominal changes, reservations, free places, the
financing queue, municipality settings, expiry notices, the outbox

What the six migrations of its history made, squashed before launch under the id of its
head (docs/migrations.md).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from servicekit import migrations

revision = "a20c0e1f5b23"
down_revision = None


def upgrade() -> None:
    migrations.create_outbox_tables()
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=10), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column("municipality_code", sa.String(length=100), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("type", sa.String(length=20), server_default="accounting", nullable=False),
        sa.Column("status", sa.String(length=20), server_default="active", nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column(
            "issued_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("number ~ '^[0-9]{10}$'", name="certificate_number_digits"),
        sa.CheckConstraint("status IN ('active', 'frozen', 'expired')", name="certificate_status"),
        sa.CheckConstraint("type IN ('accounting', 'financing')", name="certificate_type"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("child_id"),
        sa.UniqueConstraint("number"),
    )
    op.create_index("ix_certificates_municipality", "certificates", ["municipality_code", "id"])
    op.create_index("ix_certificates_parent", "certificates", ["parent_id"])
    op.create_table(
        "ledger_operations",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "periods",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="open", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("status IN ('open', 'closing', 'closed')", name="period_status"),
        sa.CheckConstraint("end_date > start_date", name="period_dates"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("start_date"),
    )
    op.create_table(
        "balances",
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=False),
        sa.Column("nominal", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("credited", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("available", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("reserved", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("spent", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("expired", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint("available >= 0", name="balance_available_nonnegative"),
        sa.CheckConstraint(
            "credited = available + reserved + spent + expired", name="balance_adds_up"
        ),
        sa.CheckConstraint("expired >= 0", name="balance_expired_nonnegative"),
        sa.CheckConstraint("reserved >= 0", name="balance_reserved_nonnegative"),
        sa.CheckConstraint("spent >= 0", name="balance_spent_nonnegative"),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificates.id"]),
        sa.ForeignKeyConstraint(["period_id"], ["periods.id"]),
        sa.PrimaryKeyConstraint("certificate_id", "period_id"),
    )
    op.create_table(
        "financing_queue",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=False),
        sa.Column("municipality_code", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="waiting", nullable=False),
        sa.Column(
            "queued_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("upgraded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('waiting', 'upgraded')", name="queue_status"),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificates.id"]),
        sa.ForeignKeyConstraint(["period_id"], ["periods.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("certificate_id", "period_id", name="one_queue_place_per_period"),
    )
    op.create_index(
        "ix_queue_waiting",
        "financing_queue",
        ["municipality_code", "period_id", "id"],
        postgresql_where=sa.text("status = 'waiting'"),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("operation_key", sa.String(length=200), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("enrollment_id", sa.String(length=64), nullable=True),
        sa.Column("month", sa.String(length=7), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("actor_name", sa.Text(), nullable=True),
        sa.CheckConstraint("amount > 0 OR (kind = 'adjust' AND amount < 0)", name="entry_amount"),
        sa.CheckConstraint(
            "kind IN ('credit', 'adjust', 'reserve', 'release', 'debit', 'expire')",
            name="entry_kind",
        ),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificates.id"]),
        sa.ForeignKeyConstraint(["operation_key"], ["ledger_operations.key"]),
        sa.ForeignKeyConstraint(["period_id"], ["periods.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_entries_balance", "ledger_entries", ["certificate_id", "period_id"])
    op.create_index("ix_entries_certificate", "ledger_entries", ["certificate_id", "id"])
    op.create_table(
        "municipal_funds",
        sa.Column("municipality_code", sa.String(length=100), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=False),
        sa.Column("limit_amount", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("used", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "bands",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("limit_amount >= 0", name="fund_limit_nonnegative"),
        sa.CheckConstraint("used >= 0 AND used <= limit_amount", name="fund_used_within_limit"),
        sa.ForeignKeyConstraint(["period_id"], ["periods.id"]),
        sa.PrimaryKeyConstraint("municipality_code", "period_id"),
    )
    op.create_table(
        "reservations",
        sa.Column("enrollment_id", sa.String(length=64), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.Column("released", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("debited", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("available_after", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("amount = reserved + released + debited", name="reservation_adds_up"),
        sa.CheckConstraint("released >= 0 AND debited >= 0", name="reservation_parts_nonnegative"),
        sa.CheckConstraint("reserved >= 0", name="reservation_nonnegative"),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificates.id"]),
        sa.ForeignKeyConstraint(["period_id"], ["periods.id"]),
        sa.PrimaryKeyConstraint("enrollment_id"),
    )
    op.create_index("ix_reservations_certificate", "reservations", ["certificate_id", "period_id"])
    # periods never overlap: one program year at a time (autogenerate does not see exclusion
    # constraints)
    op.execute(
        "ALTER TABLE periods ADD CONSTRAINT periods_do_not_overlap"
        " EXCLUDE USING gist (daterange(start_date, end_date, '[]') WITH &&)"
    )
    op.create_table(
        "municipality_settings",
        sa.Column("municipality_code", sa.String(length=100), nullable=False),
        sa.Column("nominal_mode", sa.String(length=20), server_default="full", nullable=False),
        sa.Column("free_allowance", sa.Integer(), server_default="2", nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("nominal_mode IN ('full', 'prorated')", name="settings_nominal_mode"),
        sa.CheckConstraint("free_allowance >= 0", name="settings_free_allowance"),
        sa.PrimaryKeyConstraint("municipality_code"),
    )
    op.create_table(
        "free_places",
        sa.Column("enrollment_id", sa.String(length=64), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificates.id"]),
        sa.PrimaryKeyConstraint("enrollment_id"),
    )
    op.create_index(
        "ix_free_places_live",
        "free_places",
        ["certificate_id"],
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_table(
        "nominal_changes",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("municipality_code", sa.String(length=100), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=False),
        sa.Column("bands", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(["period_id"], ["periods.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_nominal_changes_fund",
        "nominal_changes",
        ["municipality_code", "period_id", "effective_from", "id"],
    )
    # the active certificates never financed, by municipality and issue order, for the
    # calendar's finance_registered
    op.create_index(
        "ix_certificates_accounting",
        "certificates",
        ["municipality_code", "id"],
        postgresql_where=sa.text("type = 'accounting' AND status = 'active'"),
    )
    # the certificate_expiring events the calendar's announce_expiring emitted, once per
    # certificate and validity end; ix_certificates_valid_until for it and expire_aged
    op.create_table(
        "expiry_notices",
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column(
            "announced_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificates.id"]),
        sa.PrimaryKeyConstraint("certificate_id", "valid_until"),
    )
    op.create_index(
        "ix_certificates_valid_until",
        "certificates",
        ["valid_until"],
        postgresql_where=sa.text("status <> 'expired'"),
    )
    migrations.create_outbox_notify()


def downgrade() -> None:
    migrations.drop_outbox_notify()
    for table in ("expiry_notices", "nominal_changes", "free_places", "municipality_settings"):
        op.drop_table(table)
    for table in ("reservations", "municipal_funds", "ledger_entries", "financing_queue"):
        op.drop_table(table)
    for table in ("balances", "periods", "ledger_operations", "certificates"):
        op.drop_table(table)
    migrations.drop_outbox_tables()
