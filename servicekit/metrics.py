"""Prometheus metrics of every Navigator process (the prometheus_client library).

Every process, the gateway included (never on its API port), serves them on a port of its
own (`METRICS_PORT`, or honcho's `PORT` under `make run`), served by
`servicekit.telemetry.Telemetry`. Names are listed in README ("Operations"); the
alert rules in deploy/prometheus/ use them. `METRICS_ENABLED=false` turns recording off
(for the overhead benchmark); the endpoints then answer with the process metrics only.
"""

import argparse
import logging
import time
from pathlib import Path

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import text

from servicekit import config

log = logging.getLogger(__name__)

ENABLED = config.env("METRICS_ENABLED", "true").lower() not in ("false", "0", "no", "off")

# latency buckets from 5 ms to 10 s: the gateway's p95 target sits in the middle
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)

# --- gateway -------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "navigator_http_requests",
    "HTTP requests answered by the gateway, by route template and status",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "navigator_http_request_duration_seconds",
    "Time the gateway took to answer, by route template",
    ["method", "route"],
    buckets=BUCKETS,
)
IDEMPOTENT_REPLAYS = Counter(
    "navigator_idempotent_replays",
    "Mutating requests answered from the Idempotency-Key store instead of being run again",
)
SEARCH_CACHE = Counter(
    "navigator_search_cache",
    "Shared public answers (catalog search): hit, shared (waited for a concurrent miss), miss",
    ["result"],
)

# --- RPC callers (gateway and services) ----------------------------------------------------
RPC_DEADLINE_MISSES = Counter(
    "navigator_rpc_deadline_misses",
    "RPC calls that got no answer before their deadline (answered 503), by called service",
    ["callee"],
)

RPC_BATCHES = Counter(
    "navigator_rpc_batches",
    "Batches sent by natural batching (servicekit.batching), by called method",
    ["method"],
)
RPC_BATCHED_ITEMS = Counter(
    "navigator_rpc_batched_items",
    "Items sent in those batches, by called method (items / batches: the mean batch)",
    ["method"],
)

# --- services ------------------------------------------------------------------------------
RPC_CALLS = Counter("navigator_rpc_calls", "RPC calls handled, by method", ["method"])
RPC_ERRORS = Counter(
    "navigator_rpc_errors", "RPC calls that raised, by method and error code", ["method", "code"]
)
RPC_REQUESTS_EXPIRED = Counter(
    "navigator_rpc_requests_expired",
    "RPC requests not started because their caller's deadline had passed, by method",
    ["method"],
)
RPC_DURATION = Histogram(
    "navigator_rpc_duration_seconds",
    "Time an RPC method took in this service, by method",
    ["method"],
    buckets=BUCKETS,
)
EVENTS_HANDLED = Counter(
    "navigator_events_handled", "Events handled successfully, by handler", ["handler"]
)
EVENTS_RETRIED = Counter(
    "navigator_events_retried", "Events whose handler failed and were sent to retry", ["handler"]
)
EVENTS_PARKED = Counter(
    "navigator_events_parked", "Events parked after the last retry failed", ["handler"]
)
EVENT_DURATION = Histogram(
    "navigator_event_handling_duration_seconds",
    "Time a handler took for one event, whatever its outcome",
    ["handler"],
    buckets=BUCKETS,
)


# Label children by their labels: `labels()` takes a lock and builds a key each time, more
# than the increment itself. Every label set here is bounded (route templates, methods).
_http_children: dict[tuple, tuple] = {}
_rpc_children: dict[str, tuple] = {}


def http_request(method: str, route: str, status: int, seconds: float) -> None:
    if ENABLED:
        key = (method, route, status)
        children = _http_children.get(key)
        if children is None:
            children = (
                HTTP_REQUESTS.labels(method, route, str(status)),
                HTTP_DURATION.labels(method, route),
            )
            _http_children[key] = children
        children[0].inc()
        children[1].observe(seconds)


def count(counter, *labels, amount: float = 1) -> None:
    if ENABLED:
        (counter.labels(*labels) if labels else counter).inc(amount)


def rpc_handled(method: str, seconds: float, error_code: str | None) -> None:
    if ENABLED:
        children = _rpc_children.get(method)
        if children is None:
            children = (RPC_CALLS.labels(method), RPC_DURATION.labels(method))
            _rpc_children[method] = children
        children[0].inc()
        children[1].observe(seconds)
        if error_code is not None:
            RPC_ERRORS.labels(method, error_code).inc()


def event_handler_started(handler: str) -> None:
    """Every outcome's series of a handler at 0 from its start: `increase()` sees a first park
    only as a step from an earlier sample (a child created by the park itself has none)."""
    if ENABLED:
        for counter in (EVENTS_HANDLED, EVENTS_RETRIED, EVENTS_PARKED):
            counter.labels(handler)


def event_handled(handler: str, outcome: str, seconds: float | None) -> None:
    if ENABLED:
        {"handled": EVENTS_HANDLED, "retried": EVENTS_RETRIED, "parked": EVENTS_PARKED}[
            outcome
        ].labels(handler).inc()
        if seconds is not None:
            EVENT_DURATION.labels(handler).observe(seconds)


class ResourceCollector:
    """Read at scrape time, so a stuck relay still shows its backlog: the outbox's unsent rows
    and the age of the oldest, and the database pool's connections in use."""

    def __init__(self):
        self.outboxes: dict = {}  # service -> engine holding its outbox table
        self.pools: dict = {}  # service -> engine of its workers

    def collect(self):
        unsent = GaugeMetricFamily(
            "navigator_outbox_unsent_rows", "Outbox rows not yet published", labels=["service"]
        )
        oldest = GaugeMetricFamily(
            "navigator_outbox_oldest_unsent_age_seconds",
            "Age of the oldest unpublished outbox row (0 when none)",
            labels=["service"],
        )
        for service, engine in list(self.outboxes.items()):
            try:
                with engine.connect() as conn:
                    rows, first = conn.execute(
                        text(
                            "SELECT count(*), min(created_at) FROM outbox "
                            "WHERE published_at IS NULL"
                        )
                    ).one()
            except Exception:  # noqa: BLE001 - a scrape must not fail with the database
                log.warning("could not read the outbox of %s for metrics", service)
                continue
            unsent.add_metric([service], rows)
            oldest.add_metric([service], time.time() - first.timestamp() if first else 0.0)
        yield unsent
        yield oldest
        in_use = GaugeMetricFamily(
            "navigator_db_pool_in_use",
            "Database connections checked out by workers",
            labels=["service"],
        )
        size = GaugeMetricFamily(
            "navigator_db_pool_size", "Database connections kept by the pool", labels=["service"]
        )
        for service, engine in list(self.pools.items()):
            in_use.add_metric([service], engine.pool.checkedout())
            size.add_metric([service], engine.pool.size())
        yield in_use
        yield size


resources = ResourceCollector()
REGISTRY.register(resources)


def procfile_ports(procfile: Path, base: int, scale: str = "") -> list[tuple[str, int]]:
    """Where honcho's `PORT` puts each process's metrics: base + 100 per process type in
    Procfile order, + 1 per extra instance (what `make run` prints)."""
    counts = dict(item.split("=") for item in scale.split(",") if "=" in item)
    names = [
        line.split(":", 1)[0].strip()
        for line in procfile.read_text().splitlines()
        if line.strip() and not line.startswith("#") and ":" in line
    ]
    ports = []
    for index, name in enumerate(names):
        for instance in range(int(counts.get(name, 1))):
            label = f"{name}.{instance + 1}"
            ports.append((label, base + 100 * index + instance))
    return ports


def main() -> None:
    parser = argparse.ArgumentParser(description="Where `make run` serves each process's metrics")
    parser.add_argument("--procfile", default="Procfile")
    parser.add_argument("--base-port", type=int, default=9100)
    parser.add_argument("--scale", default="")
    args = parser.parse_args()
    print("Metrics (Prometheus text format):")
    for name, port in procfile_ports(Path(args.procfile), args.base_port, args.scale):
        print(f"  {name:<16} http://127.0.0.1:{port}/metrics")


if __name__ == "__main__":
    main()
