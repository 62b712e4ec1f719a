"""the catalog's baseline: municipalities (reference data), organizations, programs, study
groups with the seat counts enrollment tells, the normative cost of an hour per
municipality, the search tables and their word correction, the outbox

What the ten migrations of its history made, squashed before launch under the id of its
head (docs/migrations.md). The history also held enrollment's applications until enrollment
got a database of its own (services/enrollment/migrations): the baseline never makes them.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from contracts.municipalities import municipalities
from servicekit import migrations

revision = "a20c0e1f5b02"
down_revision = None


def upgrade() -> None:
    migrations.create_outbox_tables()
    # trigram index of search words, for correcting one-letter typos
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "municipalities",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("centre", sa.String(length=100), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "search_programs",
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("organization_name", sa.String(length=300), nullable=False),
        sa.Column("municipality_code", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("direction", sa.String(length=30), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("adapted", sa.Boolean(), nullable=False),
        sa.Column("registry", sa.String(length=30), nullable=False),
        sa.Column("payment_type", sa.String(length=20), nullable=False),
        sa.Column("min_age", sa.SmallInteger(), nullable=False),
        sa.Column("max_age", sa.SmallInteger(), nullable=False),
        sa.Column("tsv", postgresql.TSVECTOR(), nullable=False),
        sa.PrimaryKeyConstraint("program_id"),
    )
    op.create_index(
        "ix_search_programs_tsv",
        "search_programs",
        ["tsv"],
        postgresql_using="gin",
        postgresql_with={"fastupdate": "off"},
    )
    op.create_table(
        "search_rows",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("municipality_code", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=30), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("adapted", sa.Boolean(), nullable=False),
        sa.Column("payment_type", sa.String(length=20), nullable=False),
        sa.Column("min_age", sa.SmallInteger(), nullable=False),
        sa.Column("max_age", sa.SmallInteger(), nullable=False),
        sa.Column("monthly_price_kopecks", sa.BigInteger(), nullable=False),
        sa.Column("free_seats", sa.Integer(), nullable=False),
        sa.Column("enrollment_open", sa.Boolean(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("group_id"),
    )
    op.create_index("ix_search_rows_lat", "search_rows", ["lat"])
    op.create_index(
        "ix_search_rows_municipality", "search_rows", ["municipality_code", "direction"]
    )
    op.create_index("ix_search_rows_program_id", "search_rows", ["program_id"])
    op.create_table(
        "search_words",
        sa.Column("word", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("word"),
    )
    op.create_index(
        "ix_search_words_trgm",
        "search_words",
        ["word"],
        postgresql_using="gin",
        postgresql_ops={"word": "gin_trgm_ops"},
    )
    op.create_table(
        "organizations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("inn", sa.String(length=12), nullable=False),
        sa.Column("municipality_code", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("email", sa.String(length=200), nullable=True),
        sa.Column("website", sa.String(length=300), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(["municipality_code"], ["municipalities.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("inn"),
    )
    op.create_index("ix_organizations_municipality_code", "organizations", ["municipality_code"])
    op.create_table(
        "programs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("direction", sa.String(length=30), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("min_age", sa.SmallInteger(), nullable=False),
        sa.Column("max_age", sa.SmallInteger(), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("adapted", sa.Boolean(), nullable=False),
        sa.Column("registry", sa.String(length=30), nullable=False),
        sa.Column("payment_type", sa.String(length=20), nullable=False),
        sa.Column("certified", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_programs_organization_id", "programs", ["organization_id"])
    op.create_table(
        "study_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("teacher", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("schedule", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("min_age", sa.SmallInteger(), nullable=False),
        sa.Column("max_age", sa.SmallInteger(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("enrolled", sa.Integer(), nullable=False),
        sa.Column("price_kopecks", sa.BigInteger(), nullable=False),
        sa.Column("normative_cost_kopecks", sa.BigInteger(), nullable=False),
        sa.Column("monthly_price_kopecks", sa.BigInteger(), nullable=False),
        sa.Column("enrollment_open", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        # the seat counts are enrollment's: its newest group_seats_changed wins (seats_version);
        # the not-overbooked check lives on its table (docs/enrollment.md)
        sa.Column("seats_version", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint("held >= 0 AND enrolled >= 0", name="ck_study_groups_seats_positive"),
        sa.ForeignKeyConstraint(["program_id"], ["programs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_study_groups_program_id", "study_groups", ["program_id"])
    op.create_index("ix_study_groups_end_date", "study_groups", ["end_date"])
    # the normative cost of an hour, per municipality: the operator's figure for groups' costs
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
    # reference data: the municipalities of Krasnoyarsk krai (contracts/data/municipalities.csv)
    table = sa.table(
        "municipalities",
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("kind", sa.String),
        sa.column("centre", sa.String),
        sa.column("lat", sa.Float),
        sa.column("lon", sa.Float),
    )
    op.bulk_insert(table, municipalities())
    # A typo is corrected to the most similar known word (`search_words`, trigram
    # similarity). The planner reads that table with a sequential scan when it is small (a
    # few thousand words): it counts the `%` operator as cheap, but each row costs a trigram
    # comparison, 2-5 ms a word on the demo region against 0.1 ms through the GIN trigram
    # index. The function runs the same query with sequential scans discouraged, so it goes
    # through the index whatever the size.
    op.execute(
        """
        CREATE FUNCTION search_word_correction(typed text) RETURNS text
        LANGUAGE sql STABLE
        SET enable_seqscan = off
        AS $$
            SELECT w.word FROM search_words w
            WHERE w.word % typed
            ORDER BY similarity(w.word, typed) DESC, w.word
            LIMIT 1
        $$
        """
    )
    migrations.create_outbox_notify()


def downgrade() -> None:
    # what the history's downgrades dropped; the pg_trgm extension stays, as it did
    migrations.drop_outbox_notify()
    op.execute("DROP FUNCTION search_word_correction(text)")
    for table in ("municipal_normatives", "study_groups", "programs", "organizations"):
        op.drop_table(table)
    for table in ("search_words", "search_rows", "search_programs", "municipalities"):
        op.drop_table(table)
    migrations.drop_outbox_tables()
