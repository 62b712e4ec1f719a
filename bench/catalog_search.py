"""Catalog search under load, as on the day enrollment opens: thousands of distinct searches
drawn the way parents search, through the gateway as deployed (its few seconds of memory on),
50 concurrent clients (wrk). No search repeats within the cache's window, so every answer is a
query; the gateway's hit rate is printed to show it. From the same running system: `/healthz`
(the gateway alone), `/api/v1/ping` (one trivial RPC) and the ratios; then the CPU each part
spent per request and, in-process, where one search's time goes.

    make bench                         # BENCH_SECONDS=20; SCALE=catalog=2; BENCH_URL=...
"""

import argparse
import json
import random
import statistics
import time
from urllib.parse import urlencode

from bench.harness import cpu_line, measure, run_wrk, running_system

DIRECTIONS = ("technical", "natural_science", "sports", "arts", "tourism", "social_humanitarian")
FORMATS = ("in_person", "distance", "mixed")
# a town's share of searches grows with its size: the regional centre, then the big towns
BIG_TOWNS = {"krasnoyarsk": 40, "norilsk": 6, "achinsk": 5, "kansk": 4, "zato-zheleznogorsk": 4,
             "minusinsk": 3, "lesosibirsk": 2, "nazarovo": 2, "sharypovo": 2}  # fmt: skip
POINTS = ((56.0106, 92.8526), (56.05, 92.95), (55.99, 92.78), (56.27, 90.50), (69.35, 88.2))
# words of titles that name the kind of body, not the activity: parents do not search them
ADMINISTRATIVE = {"объединение", "кружок"}
LETTERS = "абвгдежзиклмнопрстуфхцчшщыэюя"


def vocabulary() -> tuple[list[str], list[str]]:
    """What parents type (the words of the catalog's program titles) and the towns they live
    in, from the benchmark's catalog database."""
    from sqlalchemy import text

    from servicekit.db import make_engine

    engine = make_engine("catalog", pool_size=1)
    with engine.connect() as conn:
        titles = conn.execute(text("SELECT title FROM programs")).scalars().all()
        towns = conn.execute(text("SELECT code FROM municipalities ORDER BY code")).scalars().all()
    engine.dispose()
    counts: dict[str, int] = {}
    for title in titles:
        for word in title.replace('"', " ").replace("-", " ").split():
            if len(word) >= 4 and word.isalpha() and word.lower() not in ADMINISTRATIVE:
                counts[word.lower()] = counts.get(word.lower(), 0) + 1
    words = sorted(counts, key=lambda w: (-counts[w], w))  # most common first
    return words, list(towns)


def _typed(rng: random.Random, word: str) -> str:
    """A word as a parent types it: capitalised now and then, ё as е, sometimes a typo."""
    roll = rng.random()
    if roll < 0.08 and len(word) > 5:  # a letter missed
        i = rng.randrange(1, len(word) - 1)
        word = word[:i] + word[i + 1 :]
    elif roll < 0.12 and len(word) > 5:  # a wrong letter
        i = rng.randrange(1, len(word) - 1)
        word = word[:i] + rng.choice(LETTERS) + word[i + 1 :]
    if rng.random() < 0.3:
        word = word.capitalize()
    return word.replace("ё", "е") if rng.random() < 0.5 else word


def request_mix(count: int, words: list[str], towns: list[str], seed: int = 7) -> list[str]:
    """`count` distinct search paths in the proportions guessed from portals: the filter
    panel 30 %, the search box 25 %, words and age 15 %, payment and price 10 %, near home
    10 %, further pages 5 %, the landing page by town and order 5 %. Words are drawn with a
    long tail (a word's weight is 1/rank), towns by size."""
    rng = random.Random(seed)
    word_weights = [1 / (rank + 1) for rank in range(len(words))]
    town_names = list(BIG_TOWNS) + [t for t in towns if t not in BIG_TOWNS]
    town_weights = list(BIG_TOWNS.values()) + [0.5] * (len(town_names) - len(BIG_TOWNS))

    def town() -> str:
        return rng.choices(town_names, town_weights)[0]

    def query() -> str:
        chosen = rng.choices(words, word_weights, k=2 if rng.random() < 0.2 else 1)
        return " ".join(_typed(rng, w) for w in chosen)

    seen, paths = set(), []
    while len(paths) < count:
        roll = rng.random()
        params: dict = {}
        if roll < 0.30:  # the filter panel
            params = {"municipality": town(), "direction": rng.choice(DIRECTIONS)}
            if rng.random() < 0.8:
                params["age"] = rng.randint(5, 17)
            if rng.random() < 0.5:
                params["open_only"] = "true"
            if rng.random() < 0.3:
                params["with_free_seats"] = "true"
            if rng.random() < 0.15:
                params["format"] = rng.choice(FORMATS)
            if rng.random() < 0.05:
                params["adapted"] = "true"
        elif roll < 0.55:  # the search box
            params = {"q": query()}
            if rng.random() < 0.6:
                params["municipality"] = town()
        elif roll < 0.70:  # words and the child's age
            params = {"q": query(), "age": rng.randint(5, 17)}
            if rng.random() < 0.5:
                params["municipality"] = town()
        elif roll < 0.80:  # free or by certificate, under a price, cheapest first
            params = {
                "municipality": town(),
                "payment_type": rng.choice(("certificate", "free", "own_money")),
                "max_monthly_price": f"{rng.choice((1000, 2000, 3000, 5000))}.00",
                "sort": rng.choice(("price", "relevance")),
            }
            if rng.random() < 0.5:
                params["direction"] = rng.choice(DIRECTIONS)
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
        elif roll < 0.95:  # a further page
            params = {"municipality": town(), "offset": rng.choice((20, 40, 60))}
            if rng.random() < 0.5:
                params["direction"] = rng.choice(DIRECTIONS)
        else:  # the landing page of a town, in some order
            params = {
                "municipality": town(),
                "sort": rng.choice(("relevance", "start_date", "price")),
            }
        key = tuple(sorted((k, str(v)) for k, v in params.items()))
        if key in seen:
            continue
        seen.add(key)
        paths.append("/api/v1/catalog/search?" + urlencode(params))
    return paths


def where_time_goes(paths: list[str]) -> dict:
    """Mean in-process cost of one search of the mix: SQL and result assembly in the catalog
    service, the RPC answer's JSON (encoded there, decoded in the gateway), and the gateway's
    query validation and response dump."""
    from urllib.parse import parse_qsl, urlsplit

    import kombu.serialization
    from sqlalchemy.orm import Session

    from gateway.catalog_schemas import SearchQuery, dump_search_page
    from servicekit.db import make_engine
    from services.catalog import search

    engine = make_engine("catalog")
    query_schema = SearchQuery()
    sql, validate, dump, rpc_json, sizes, rpc_sizes = [], [], [], [], [], []
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
            _, _, wire = kombu.serialization.dumps({"result": result, "error": None}, "json")
            kombu.serialization.loads(wire, "application/json", "utf-8")
            rpc_json.append(time.perf_counter() - started)
            rpc_sizes.append(len(wire.encode()))
            started = time.perf_counter()
            body = json.dumps(dump_search_page(result), ensure_ascii=False)
            dump.append(time.perf_counter() - started)
            sizes.append(len(body.encode()))
    engine.dispose()
    return {
        "search_ms": statistics.mean(sql) * 1000,
        "search_p95_ms": statistics.quantiles(sql, n=20)[18] * 1000,
        "gateway_validate_ms": statistics.mean(validate) * 1000,
        "gateway_dump_ms": statistics.mean(dump) * 1000,
        "rpc_json_ms": statistics.mean(rpc_json) * 1000,
        "rpc_bytes": statistics.mean(rpc_sizes),
        "response_bytes": statistics.mean(sizes),
    }


def _line(name: str, r: dict) -> str:
    return (
        f"{name:24} {r['rps']:7.0f} req/s  p50 {r['p50']:6.1f} ms  p95 {r['p95']:6.1f} ms"
        f"  p99 {r['p99']:6.1f} ms  non-2xx {r['non2xx']}  socket errors {r['socket_errors']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.catalog_search")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--searches", type=int, default=12000, help="distinct searches")
    parser.add_argument("--scale", default="", help="honcho -c, e.g. catalog=2")
    args = parser.parse_args()
    from deploy.seed import seed_catalog

    print(seed_catalog(if_empty=True))
    words, towns = vocabulary()
    # one distinct set: the warm-up's searches are not measured again
    paths = request_mix(args.searches + 600, words, towns)
    warm_up, paths = paths[:600], paths[600:]
    with running_system(scale=args.scale) as base_url:
        run_wrk(base_url, warm_up, 3, args.connections)  # pools and caches of the processes
        healthz = measure(base_url, ["/healthz"], args.seconds, args.connections)
        ping = measure(base_url, ["/api/v1/ping"], args.seconds, args.connections)
        search = measure(base_url, paths, args.seconds, args.connections, count_cache=True)
    answered = search["cache_hits"] + search["cache_misses"]
    print(
        f"\n{len(paths)} distinct searches (each once per {len(paths) / max(search['rps'], 1):.0f}"
        f" s at this rate), {args.connections} connections, {args.seconds} s per run"
        + (f", {args.scale}" if args.scale else "")
    )
    for name, r in (("/healthz", healthz), ("/api/v1/ping", ping), ("search mix", search)):
        print(_line(name, r))
        print(f"{'':24} {cpu_line(r)}")
    print(
        f"gateway cache hit rate: {search['cache_hits'] / max(answered, 1):.1%}"
        f" ({search['cache_hits']} of {answered})"
    )
    print(
        f"ratio ping / healthz {ping['rps'] / healthz['rps']:.2f} (goal >= 0.5); "
        f"search / ping {search['rps'] / ping['rps']:.2f} (goal >= 0.6); "
        f"search p95 {search['p95']:.0f} ms (goal < 100 ms)"
    )
    costs = where_time_goes(paths)
    print(
        "one search, in-process, single client: SQL + assembly "
        f"{costs['search_ms']:.2f} ms (p95 {costs['search_p95_ms']:.2f} ms); gateway query "
        f"validation {costs['gateway_validate_ms']:.2f} ms, response dump + JSON "
        f"{costs['gateway_dump_ms']:.2f} ms; RPC answer JSON out and in "
        f"{costs['rpc_json_ms']:.2f} ms; RPC answer {costs['rpc_bytes']:.0f} bytes, "
        f"response {costs['response_bytes']:.0f} bytes"
    )


if __name__ == "__main__":
    main()
