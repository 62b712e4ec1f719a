"""The municipalities of Krasnoyarsk krai (data/municipalities.csv): reference data every
service names by code. The catalog's first migration loads them into its table (the catalog
answers `list_municipalities`), the demo data and the certificates' seed read them here.
Plain Python, stdlib only, no database: a service never imports another's code, so the list
lives with the shared words (docs/design.md, section 2).

Municipality codes are slugs assigned here (transliterated names, e.g. ``achinsk``,
``abanskiy-rayon``); official OKTMO codes are not included, the reference data has none.
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["municipalities", "slug"]

_MUNICIPALITIES_CSV = Path(__file__).with_name("data") / "municipalities.csv"

# --- municipalities ---------------------------------------------------------------------

_TRANSLIT = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
        "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
        "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
        "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
        "я": "ya",
    }
)  # fmt: skip
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """'Абанский район' -> 'abanskiy-rayon'."""
    return _NOT_SLUG.sub("-", text.lower().translate(_TRANSLIT)).strip("-")


@lru_cache(maxsize=1)
def _municipality_rows() -> tuple[tuple[str, str, str, str, float, float], ...]:
    with _MUNICIPALITIES_CSV.open(encoding="utf-8", newline="") as lines:
        rows = tuple(
            (slug(r["name"]), r["name"], r["kind"], r["centre"], float(r["lat"]), float(r["lon"]))
            for r in csv.DictReader(lines)
        )
    codes = [row[0] for row in rows]
    if len(set(codes)) != len(codes):
        raise RuntimeError("municipality slugs are not unique")
    return rows


def municipalities() -> list[dict[str, Any]]:
    """The municipalities of the krai, from data/municipalities.csv, in file order:
    ``{code, name, kind, centre, lat, lon}``. ``code`` is a slug of the name assigned
    here (not OKTMO); ``kind`` is ``city_okrug`` or ``district``."""
    return [
        {"code": code, "name": name, "kind": kind, "centre": centre, "lat": lat, "lon": lon}
        for code, name, kind, centre, lat, lon in _municipality_rows()
    ]
