"""Server-side prepared statements on psycopg2, per pooled connection: PostgreSQL parses and
plans a hot statement once per connection instead of on every call.

psycopg2 sends every statement as text, and PostgreSQL plans it each time; for the catalog
search the planning cost as much as running it (docs/catalog.md). Here a statement is
PREPAREd on a connection the first time that connection runs it, with parameter types taken
from the Python values (so a value means exactly what it meant as a literal: an int is int8,
a float float8, a str text, a Decimal numeric), and then run with EXECUTE. The names a
connection holds live in the pool's per-connection `info`, which SQLAlchemy clears when it
replaces a connection; at most MAX_PER_CONNECTION are kept, the least recently used is
DEALLOCATEd.

The point is the generic plan, made once for any values: the connection's `plan_cache_mode`
is set to `force_generic_plan` when it prepares (by default PostgreSQL plans the first five
runs of each statement for their values, on every connection, before it considers the
generic plan). It concerns prepared statements only, and nothing else prepares here; a SET
inside a transaction that rolls back is undone, which only brings back that default. A
statement whose best plan depends on its values more than the generic estimate knows should
not come here: run it as plain text, so it is planned for its values every time (check with
EXPLAIN EXECUTE under both modes).

`PREPARED_STATEMENTS=0` turns it off (statements go as plain text, as before): needed behind
a pooler that does not keep a server connection per client connection (PgBouncer in
transaction mode). Values of other types than the above go as plain text too.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from decimal import Decimal

import psycopg2
from psycopg2 import errorcodes

from servicekit import config

MAX_PER_CONNECTION = 32
_INFO_KEY = "prepared_statements"
# exact types: bool is an int subclass but not an int8
_TYPES = {int: "int8", float: "float8", str: "text", Decimal: "numeric", bool: "boolean"}
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def enabled() -> bool:
    return config.env("PREPARED_STATEMENTS", "1") not in ("0", "false", "no", "off")


class _Shape:
    """One driver SQL statement (pyformat placeholders) as PREPARE wants it: $n placeholders
    in order of first use, and the EXECUTE that fills them."""

    __slots__ = ("order", "numbered", "execute_args")

    def __init__(self, driver_sql: str):
        order: list[str] = []

        def number(match: re.Match) -> str:
            name = match.group(1)
            if name not in order:
                order.append(name)
            return f"${order.index(name) + 1}"

        self.numbered = _PLACEHOLDER.sub(number, driver_sql).replace("%%", "%")
        self.order = tuple(order)
        self.execute_args = "(" + ", ".join(f"%({name})s" for name in order) + ")" if order else ""


_shapes: dict[str, _Shape] = {}


def _shape(driver_sql: str) -> _Shape:
    shape = _shapes.get(driver_sql)
    if shape is None:
        if len(_shapes) > 4096:  # statements are built from constant fragments: few shapes
            _shapes.clear()
        shape = _shapes[driver_sql] = _Shape(driver_sql)
    return shape


def fetchall(pooled, driver_sql: str, params: dict) -> list[tuple]:
    """The rows of `driver_sql` (psycopg2 pyformat, as SQLAlchemy compiles it) on `pooled`,
    a pooled connection (`session.connection().connection`), prepared on it when it can be."""
    dbapi = pooled.dbapi_connection
    shape = _shape(driver_sql)
    try:
        types = tuple(_TYPES[type(params[name])] for name in shape.order)
    except KeyError:
        types = None  # a value of another type, or None: as plain text
    cursor = dbapi.cursor()
    try:
        if types is None or not enabled():
            cursor.execute(driver_sql, params)
            return cursor.fetchall()
        held: OrderedDict = pooled.info.setdefault(_INFO_KEY, OrderedDict())
        key = (driver_sql, types)
        name = held.get(key)
        if name is None:
            name = _prepare(cursor, held, key, shape, types)
        else:
            held.move_to_end(key)
        try:
            cursor.execute(f"EXECUTE {name} {shape.execute_args}", params)
        except psycopg2.Error as error:
            # gone from the server connection (DEALLOCATE ALL, a pooler's other connection)
            if error.pgcode != errorcodes.INVALID_SQL_STATEMENT_NAME:
                raise
            held.clear()
            if not dbapi.autocommit:
                raise  # the transaction is aborted; the next one prepares again
            name = _prepare(cursor, held, key, shape, types)
            cursor.execute(f"EXECUTE {name} {shape.execute_args}", params)
        return cursor.fetchall()
    finally:
        cursor.close()


def _prepare(cursor, held: OrderedDict, key, shape: _Shape, types) -> str:
    # a name per statement and types, the same on every connection
    name = "ps_" + hashlib.blake2b(repr(key).encode(), digest_size=10).hexdigest()
    while len(held) >= MAX_PER_CONNECTION:
        _, old = held.popitem(last=False)
        cursor.execute(f"DEALLOCATE {old}")
    cursor.execute("SET plan_cache_mode = force_generic_plan")
    # PREPARE is not transactional: it stays even if the caller's transaction rolls back
    cursor.execute(f"PREPARE {name} ({', '.join(types)}) AS {shape.numbered}")
    held[key] = name
    return name
