"""Each service's Alembic history produces exactly the schema its models declare."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from servicekit import config
from servicekit.outbox import metadata as messaging


def declared_metadata(owner: str):
    if owner == "gateway":
        from gateway.models import Base

        return [Base.metadata]
    module = __import__(f"services.{owner}.models", fromlist=["Base"])
    return [module.Base.metadata, messaging]


@pytest.mark.parametrize("owner", config.DATABASE_OWNERS)
def test_migrations_produce_exactly_the_declared_schema(owner, engine_of):
    with engine_of(owner).connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, declared_metadata(owner))
    assert differences == []
