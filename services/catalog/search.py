"""Catalog search in PostgreSQL: the derived `search_rows` table and the search query.

`search_rows` holds one row per group of a published program of an active organization, with
the program's and organization's filter columns copied in and a precomputed tsvector (russian
configuration, lower case, ё -> е). `refresh_programs` rebuilds the rows of some programs in
the caller's transaction, so the index never disagrees with the tables it is derived from.

A search is one statement: the matching group rows, grouped per program, sorted and cut to the
page with the total counted in the same pass, then joined back to the page's groups for their
summary. Every value is a bound parameter; the only SQL put together here is chosen from the
constant fragments below.
"""

from __future__ import annotations

import json
from collections import namedtuple
from functools import lru_cache
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from servicekit import prepared
from services.catalog import domain

_REFRESH_DELETE_ROWS = text("DELETE FROM search_rows WHERE program_id = ANY(:ids)")
_REFRESH_DELETE_PROGRAMS = text("DELETE FROM search_programs WHERE program_id = ANY(:ids)")
_REFRESH_PROGRAMS = text(
    """
    INSERT INTO search_programs (
        program_id, organization_id, organization_name, municipality_code, title, direction,
        level, format, adapted, registry, payment_type, min_age, max_age, tsv)
    SELECT p.id, o.id, o.name, o.municipality_code, p.title, p.direction,
           p.level, p.format, p.adapted, p.registry, p.payment_type, p.min_age, p.max_age,
           -- lower case and ё -> е, as normalize_search_text does to the query
           setweight(to_tsvector('russian', replace(lower(p.title), 'ё', 'е')), 'A')
           || setweight(to_tsvector('russian', replace(lower(p.description), 'ё', 'е')), 'B')
           || setweight(to_tsvector('russian', replace(lower(
                  o.name || ' ' || (CAST(:direction_names AS jsonb) ->> p.direction)),
                  'ё', 'е')), 'C')
    FROM programs p
    JOIN organizations o ON o.id = p.organization_id
    WHERE p.id = ANY(:ids) AND p.status = 'published' AND o.status = 'active'
    """
)
_REFRESH_ROWS = text(
    """
    INSERT INTO search_rows (
        group_id, program_id, municipality_code, direction, level, format, adapted,
        payment_type, min_age, max_age, monthly_price_kopecks, free_seats, enrollment_open,
        start_date, lat, lon)
    SELECT g.id, sp.program_id, sp.municipality_code, sp.direction, sp.level, sp.format,
           sp.adapted, sp.payment_type, g.min_age, g.max_age, g.monthly_price_kopecks,
           greatest(0, g.capacity - g.held - g.enrolled), g.enrollment_open,
           g.start_date, g.lat, g.lon
    FROM study_groups g
    JOIN search_programs sp ON sp.program_id = g.program_id
    WHERE g.program_id = ANY(:ids)
    """
)
_REFRESH_WORDS = text(
    """
    INSERT INTO search_words (word)
    SELECT DISTINCT w
    FROM programs p,
         regexp_split_to_table(replace(lower(p.title || ' ' || p.description), 'ё', 'е'),
                               :separator) AS w
    WHERE p.id = ANY(:ids) AND length(w) BETWEEN :min_length AND 100
    ON CONFLICT DO NOTHING
    """
)
_REFRESH_ALL = text("TRUNCATE search_rows, search_programs")
_ALL_PROGRAMS = text("SELECT coalesce(array_agg(id), '{}') FROM programs")


@lru_cache(maxsize=1)
def _direction_names() -> str:
    return json.dumps(domain.DIRECTIONS, ensure_ascii=False)


def refresh_programs(session: Session, program_ids: list[int]) -> None:
    """Rebuild the search rows (and known words) of these programs, in the current transaction."""
    if not program_ids:
        return
    ids = sorted(set(program_ids))
    session.execute(_REFRESH_DELETE_ROWS, {"ids": ids})
    session.execute(_REFRESH_DELETE_PROGRAMS, {"ids": ids})
    session.execute(_REFRESH_PROGRAMS, {"ids": ids, "direction_names": _direction_names()})
    session.execute(_REFRESH_ROWS, {"ids": ids})
    session.execute(
        _REFRESH_WORDS,
        {"ids": ids, "min_length": domain.TYPO_MIN_LENGTH, "separator": "[^[:alpha:]]+"},
    )


def refresh_all(session: Session) -> None:
    session.execute(_REFRESH_ALL)
    refresh_programs(session, list(session.execute(_ALL_PROGRAMS).scalar()))


def refresh_seats(session: Session, group_id: int, free_seats: int) -> None:
    session.execute(
        text("UPDATE search_rows SET free_seats = :free WHERE group_id = :id"),
        {"free": free_seats, "id": group_id},
    )


# --- the query --------------------------------------------------------------------------

_DISTANCE = (
    "2 * 6371.0 * asin(least(1.0, sqrt("
    "power(sin(radians(s.lat - :lat) / 2), 2)"
    " + cos(radians(:lat)) * cos(radians(s.lat)) * power(sin(radians(s.lon - :lon) / 2), 2))))"
)
_CONDITIONS = {
    "direction": "s.direction = :direction",
    "age": "s.min_age <= :age AND s.max_age >= :age",
    "municipality": "s.municipality_code = :municipality",
    "payment_type": "s.payment_type = :payment_type",
    "max_monthly_price": "s.monthly_price_kopecks <= :max_monthly_price",
    "level": "s.level = :level",
    "format": "s.format = :format",
    "adapted": "s.adapted",
    "with_free_seats": "s.free_seats > 0",
    "open_only": "s.enrollment_open",
    "box": "s.lat BETWEEN :min_lat AND :max_lat AND s.lon BETWEEN :min_lon AND :max_lon",
    "radius": _DISTANCE + " <= :radius_km",
}
# the filters a program's search row answers alone (search_rows copies them from it): a text
# search applies them before ranking, so only the programs that can match are ranked
_PROGRAM_CONDITIONS = {
    "direction": "p.direction = :direction",
    "municipality": "p.municipality_code = :municipality",
    "payment_type": "p.payment_type = :payment_type",
    "level": "p.level = :level",
    "format": "p.format = :format",
    "adapted": "p.adapted",
}
_ORDER = {
    "relevance": "max({rank}) DESC, s.program_id",
    "price": "min(s.monthly_price_kopecks), s.program_id",
    "distance": "min({distance}), s.program_id",
    "start_date": "min(s.start_date), s.program_id",
}


@lru_cache(maxsize=512)
def _statement(conditions: tuple[str, ...], with_text: bool, with_point: bool, sort: str):
    where = " AND ".join(_CONDITIONS[name] for name in conditions) or "TRUE"
    distance = _DISTANCE if with_point else "NULL::float8"
    rank = "m.rank" if with_text else "CAST(0 AS real)"
    order = _ORDER[sort].format(rank=rank, distance=distance)
    # the text is matched and ranked once per program, not once per group, and only for the
    # programs the program-level filters let through
    program_where = "".join(
        f" AND {_PROGRAM_CONDITIONS[name]}" for name in conditions if name in _PROGRAM_CONDITIONS
    )
    matched = (
        f"""WITH matched AS MATERIALIZED (
            SELECT program_id, ts_rank(tsv, to_tsquery('russian', :tsquery)) AS rank
            FROM search_programs p
            WHERE tsv @@ to_tsquery('russian', :tsquery){program_where}
        )"""  # noqa: S608 - constant fragments of this module
        if with_text
        else ""
    )
    source = (
        "search_rows s JOIN matched m ON m.program_id = s.program_id"
        if with_text
        else "search_rows s"
    )
    # The page of programs is chosen first (sorted, total counted in the same pass); then the
    # matching groups of those programs alone are read again by program id for their summary
    # (the page's programs matched the text already: the groups need only the filters).
    # Only constant fragments of this module are put together here; values are bound.
    sql = f"""
    {matched}
    SELECT page.total, page.position, page.rank, {distance} AS distance_km,
           s.group_id, s.program_id, sp.organization_id, sp.organization_name,
           sp.municipality_code, sp.title, sp.direction, sp.level, sp.format, sp.adapted,
           sp.registry, sp.payment_type, sp.min_age AS program_min_age,
           sp.max_age AS program_max_age, s.monthly_price_kopecks, s.free_seats, s.start_date,
           g.address
    FROM (
        SELECT s.program_id, max({rank}) AS rank,
               count(*) OVER () AS total,
               row_number() OVER (ORDER BY {order}) AS position
        FROM {source}
        WHERE {where}
        GROUP BY s.program_id
        ORDER BY position
        LIMIT :limit OFFSET :offset
    ) AS page
    JOIN search_rows s ON s.program_id = page.program_id
    JOIN search_programs sp ON sp.program_id = page.program_id
    JOIN study_groups g ON g.id = s.group_id
    WHERE {where}
    ORDER BY page.position, s.group_id
    """  # noqa: S608
    return text(sql)


_COUNT = (
    "SELECT count(DISTINCT s.program_id) FROM search_rows s"
    " JOIN search_programs sp ON sp.program_id = s.program_id WHERE {where}"
)
_TEXT_CONDITION = "sp.tsv @@ to_tsquery('russian', :tsquery)"

# the most similar known word of each: search_word_correction (a migration) reads search_words
# through its trigram index, which the planner passes over for a small table
_CORRECT_WORDS = text(
    "SELECT q.word, search_word_correction(q.word) AS correction"
    " FROM unnest(CAST(:words AS text[])) AS q(word)"
)


def correct_typos(session: Session, words: list[str]) -> list[str]:
    """Each long word that is not a known word replaced by the most similar known one."""
    long_words = [w for w in words if len(w) >= domain.TYPO_MIN_LENGTH and not w.isdigit()]
    if not long_words:
        return words
    corrections = {
        row.word: row.correction
        for row in session.execute(_CORRECT_WORDS, {"words": long_words})
        if row.correction
    }
    return [corrections.get(word, word) for word in words]


def _bindings(filters: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    names: list[str] = []
    params: dict[str, Any] = {}
    for name in (
        "direction",
        "age",
        "municipality",
        "payment_type",
        "max_monthly_price",
        "level",
        "format",
    ):
        if filters.get(name) is not None:
            names.append(name)
            params[name] = filters[name]
    for flag in ("adapted", "with_free_seats", "open_only"):
        if filters.get(flag):
            names.append(flag)
    if filters.get("lat") is not None:
        params["lat"], params["lon"] = filters["lat"], filters["lon"]
        if filters.get("radius_km") is not None:
            box = domain.bounding_box(filters["lat"], filters["lon"], filters["radius_km"])
            params.update(zip(("min_lat", "max_lat", "min_lon", "max_lon"), box, strict=True))
            params["radius_km"] = filters["radius_km"]
            names += ["box", "radius"]
    return names, params


# the columns of _statement, in order
_Row = namedtuple(
    "_Row",
    "total position rank distance_km group_id program_id organization_id organization_name"
    " municipality_code title direction level format adapted registry payment_type"
    " program_min_age program_max_age monthly_price_kopecks free_seats start_date address",
)


@lru_cache(maxsize=512)
def _driver_sql(statement, dialect) -> str:
    return str(statement.compile(dialect=dialect))


def _fetch(session: Session, statement, params: dict[str, Any], prepare: bool) -> list[tuple]:
    """The rows as the driver gives them, on the session's connection: SQLAlchemy's result
    rows cost more CPU than PostgreSQL spent on a typical search (docs/catalog.md). With
    `prepare`, the statement is planned once per pooled connection (servicekit.prepared)."""
    connection = session.connection()
    sql = _driver_sql(statement, connection.dialect)
    if prepare:
        return prepared.fetchall(connection.connection, sql, params)
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchall()
    finally:
        cursor.close()


def _run(session: Session, filters: dict[str, Any], words: list[str]) -> tuple[int, list]:
    names, params = _bindings(filters)
    if words:
        params["tsquery"] = domain.tsquery_text(words)
    params["limit"], params["offset"] = filters["limit"], filters["offset"]
    statement = _statement(
        tuple(names), bool(words), filters.get("lat") is not None, filters["sort"]
    )
    # Prepared, the statement is planned once for any values (PostgreSQL's generic plan),
    # which is as good as a plan for the values for every filter but text: the generic plan
    # guesses that a word matches a few programs, and for a common word ("школа", half of
    # them) its nested loops took twice as long. Text is planned for its words every time.
    rows = _fetch(session, statement, params, prepare=not words)
    if rows:
        return rows[0][0], rows  # total
    if filters["offset"] == 0:
        return 0, []
    # past the last page: count alone
    where = (
        " AND ".join([_TEXT_CONDITION] * bool(words) + [_CONDITIONS[name] for name in names])
        or "TRUE"
    )
    return session.execute(text(_COUNT.format(where=where)), params).scalar(), []


def search(session: Session, filters: dict[str, Any]) -> dict[str, Any]:
    """Programs matching `filters` (validated by schemas.SearchFiltersSchema), one page."""
    words = domain.search_words(filters.get("q") or "")
    total, rows = _run(session, filters, words)
    corrected = None
    if total == 0 and words:
        fixed = correct_typos(session, words)
        if fixed != words:
            total, rows = _run(session, filters, fixed)
            corrected = " ".join(fixed) if total else None
    items: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    for row in map(_Row._make, rows):
        if not items or items[-1]["id"] != row.program_id:
            if groups:
                items[-1]["groups"] = domain.summarize_groups(groups)
            groups = []
            items.append(
                {
                    "id": row.program_id,
                    "title": row.title,
                    "organization": {"id": row.organization_id, "name": row.organization_name},
                    "municipality_code": row.municipality_code,
                    "direction": row.direction,
                    "level": row.level,
                    "format": row.format,
                    "adapted": row.adapted,
                    "registry": row.registry,
                    "payment_type": row.payment_type,
                    "min_age": row.program_min_age,
                    "max_age": row.program_max_age,
                    "relevance": round(float(row.rank), 4),
                }
            )
        groups.append(
            {
                "group_id": row.group_id,
                "monthly_price_kopecks": row.monthly_price_kopecks,
                "free_seats": row.free_seats,
                "start_date": row.start_date.isoformat(),
                "distance_km": row.distance_km,
                "address": row.address,
            }
        )
    if groups:
        items[-1]["groups"] = domain.summarize_groups(groups)
    return {
        "items": items,
        "total": total,
        "limit": filters["limit"],
        "offset": filters["offset"],
        "corrected_query": corrected,
    }
