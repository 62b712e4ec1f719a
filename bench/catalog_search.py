"""Catalog search under load: a mix of realistic searches through the gateway, 50 concurrent
clients (wrk), against the trivial gateway -> catalog round trip (`GET /api/v1/ping`) measured
in the same run; then where a search's time goes, measured in-process.

    make bench-catalog                 # BENCH_SECONDS=20; BENCH_URL=... to use a running system
"""

import argparse
import json
import random
import statistics
import time
from urllib.parse import urlencode

from bench.harness import run_wrk, running_system

# what parents type, with a few one-letter typos, mixed case and ё
WORDS = (
    "футбол", "Футбол", "танцы", "робототехника", "робототехнка", "рисование", "шахматы",
    "английский", "плавание", "вокал", "программирование", "лего", "хореография", "театр",
    "бокс", "волейбол", "баскетбол", "хор", "лыжи", "гимнастика", "экология", "краеведение",
    "журналистика", "моделирование", "3D", "самбо", "дзюдо", "музыка", "ИЗО", "пение",
    "программировние", "ёлочка", "вышивка", "туризм", "математика", "химия", "биология",
)  # fmt: skip
BIG_TOWNS = (
    "krasnoyarsk", "krasnoyarsk", "krasnoyarsk", "krasnoyarsk", "norilsk", "achinsk", "kansk",
    "zato-zheleznogorsk", "minusinsk", "lesosibirsk", "nazarovo", "sharypovo",
)  # fmt: skip
DIRECTIONS = ("technical", "natural_science", "sports", "arts", "tourism", "social_humanitarian")
POINTS = ((56.0106, 92.8526), (56.05, 92.95), (55.99, 92.78), (56.27, 90.50), (69.35, 88.2))


def request_mix(count: int = 600, seed: int = 7) -> list[str]:
    """Search requests as a parent would make them, in proportions guessed from portals."""
    rng = random.Random(seed)
    paths = []
    for _ in range(count):
        roll = rng.random()
        params: dict = {}
        if roll < 0.30:  # the filter panel: municipality, direction, age
            params = {
                "municipality": rng.choice(BIG_TOWNS),
                "direction": rng.choice(DIRECTIONS),
                "age": rng.randint(5, 16),
            }
            if rng.random() < 0.5:
                params["open_only"] = "true"
            if rng.random() < 0.3:
                params["with_free_seats"] = "true"
        elif roll < 0.55:  # the search box
            params = {"q": rng.choice(WORDS)}
            if rng.random() < 0.6:
                params["municipality"] = rng.choice(BIG_TOWNS)
        elif roll < 0.70:  # search box and the child's age
            params = {"q": rng.choice(WORDS), "age": rng.randint(5, 16)}
        elif roll < 0.80:  # free or by certificate, under a price, cheapest first
            params = {
                "municipality": rng.choice(BIG_TOWNS),
                "payment_type": rng.choice(("certificate", "free", "own_money")),
                "max_monthly_price": f"{rng.choice((2000, 3000, 5000))}.00",
                "sort": "price",
            }
        elif roll < 0.90:  # near home
            lat, lon = rng.choice(POINTS)
            params = {
                "lat": round(lat + rng.uniform(-0.03, 0.03), 4),
                "lon": round(lon + rng.uniform(-0.05, 0.05), 4),
                "radius_km": rng.choice((2, 3, 5, 10)),
                "sort": "distance",
            }
            if rng.random() < 0.5:
                params["direction"] = rng.choice(DIRECTIONS)
        elif roll < 0.95:  # the next page
            params = {"municipality": rng.choice(BIG_TOWNS), "offset": 20}
            if rng.random() < 0.5:
                params["direction"] = rng.choice(DIRECTIONS)
        else:  # the landing page
            params = {} if rng.random() < 0.5 else {"sort": "start_date"}
        paths.append(
            "/api/v1/catalog/search?" + urlencode(params) if params else "/api/v1/catalog/search"
        )
    return paths


def where_time_goes(paths: list[str]) -> dict:
    """Mean in-process cost of one search of the mix: SQL and result assembly in the catalog
    service, and the gateway's query validation and response dump."""
    from urllib.parse import parse_qsl, urlsplit

    from sqlalchemy.orm import Session

    from gateway.catalog_schemas import SearchPageSchema, SearchQuery
    from servicekit.db import make_engine
    from services.catalog import search

    engine = make_engine("catalog")
    query_schema, page_schema = SearchQuery(), SearchPageSchema()
    sql, validate, dump, sizes = [], [], [], []
    with Session(engine) as session:
        for path in paths[:300]:
            raw = dict(parse_qsl(urlsplit(path).query))
            started = time.perf_counter()
            filters = query_schema.load(raw)
            validate.append(time.perf_counter() - started)
            started = time.perf_counter()
            result = search.search(session, filters)
            sql.append(time.perf_counter() - started)
            started = time.perf_counter()
            body = json.dumps(page_schema.dump(result), ensure_ascii=False)
            dump.append(time.perf_counter() - started)
            sizes.append(len(body.encode()))
    engine.dispose()
    return {
        "search_ms": statistics.mean(sql) * 1000,
        "search_p95_ms": statistics.quantiles(sql, n=20)[18] * 1000,
        "gateway_validate_ms": statistics.mean(validate) * 1000,
        "gateway_dump_ms": statistics.mean(dump) * 1000,
        "response_bytes": statistics.mean(sizes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.catalog_search")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    from services.catalog.seed import seed

    print(seed(if_empty=True))
    paths = request_mix()
    runs = {}
    # once as deployed (the gateway keeps a search's answer a few seconds), once uncached
    for label, env in (("cached", {}), ("uncached", {"SEARCH_CACHE_SECONDS": "0"})):
        with running_system(env=env) as base_url:
            run_wrk(base_url, paths, 3, args.connections)  # warm up pools
            runs[f"search mix, {label}"] = run_wrk(base_url, paths, args.seconds, args.connections)
            runs[f"ping, {label} run"] = run_wrk(
                base_url, ["/api/v1/ping"], args.seconds, args.connections
            )
    costs = where_time_goes(paths)
    print(
        f"\n{len(paths)} distinct searches, {args.connections} connections, {args.seconds} s each"
    )
    for name, r in runs.items():
        print(
            f"{name:26} {r['rps']:7.0f} req/s  p50 {r['p50']:6.1f} ms  p95 {r['p95']:6.1f} ms"
            f"  p99 {r['p99']:6.1f} ms  non-2xx {r['non2xx']}  socket errors {r['socket_errors']}"
        )
    for label in ("cached", "uncached"):
        ratio = runs[f"search mix, {label}"]["rps"] / runs[f"ping, {label} run"]["rps"]
        print(f"ratio search / ping, {label}: {ratio:.2f}   (goals: p95 < 100 ms, ratio >= 0.6)")
    print(
        "one search, in-process, single client: SQL + assembly "
        f"{costs['search_ms']:.2f} ms (p95 {costs['search_p95_ms']:.2f} ms); gateway query "
        f"validation {costs['gateway_validate_ms']:.2f} ms, response dump + JSON "
        f"{costs['gateway_dump_ms']:.2f} ms; response {costs['response_bytes']:.0f} bytes"
    )


if __name__ == "__main__":
    main()
