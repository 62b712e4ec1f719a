"""One query against a service's database from a test, on a connection of its own: the
engine, the SQL and its parameters by name (`:name` in the text)."""

import sqlalchemy as sa


def scalar(engine, query: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(query), params).scalar()


def first(engine, query: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(query), params).first()


def one(engine, query: str, **params):
    with engine.connect() as conn:
        return conn.execute(sa.text(query), params).one()


def scalars(engine, query: str, **params) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.text(query), params).scalars().all()


def rows(engine, query: str, **params) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.text(query), params).all()


def mapping(engine, query: str, **params):
    """The one row, by column name."""
    with engine.connect() as conn:
        return conn.execute(sa.text(query), params).mappings().one()
