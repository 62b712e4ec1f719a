"""A request id given to an RPC reaches the handler of the event it caused, through its
retries and its parking, in the log lines and the counters of each outcome."""

import io
import json
import logging

from nameko.standalone.rpc import ClusterRpcClient
from prometheus_client import REGISTRY
from sqlalchemy import insert

from servicekit import logs
from tests.integration.test_messaging import probe_topology, wait_for  # noqa: F401
from tests.support.probe_service import ProbeService, switches

HANDLER = "probe.on_fact_recorded"


def counter(name: str) -> float:
    return REGISTRY.get_sample_value(name, {"handler": HANDLER}) or 0.0


def test_failing_handler_logs_and_counts_each_retry_and_the_parking_under_the_request_id(
    nameko_config,
    probe_engine,
    probe_topology,  # noqa: F811 - the fixture imported above
    container_factory,
):
    lines = io.StringIO()
    capture = logging.StreamHandler(lines)
    capture.setFormatter(logs.JsonFormatter())
    telemetry_log = logging.getLogger("navigator.telemetry")
    telemetry_log.addHandler(capture)
    telemetry_log.setLevel(logging.INFO)  # as deploy/nameko.yaml has it
    before = {n: counter(f"navigator_events_{n}_total") for n in ("retried", "parked", "handled")}
    calls_before = (
        REGISTRY.get_sample_value("navigator_rpc_calls_total", {"method": "record_fact"}) or 0.0
    )
    with probe_engine.begin() as conn:
        conn.execute(insert(switches).values(name="fail", on=True))
    container = container_factory(ProbeService)
    container.start()
    try:
        with ClusterRpcClient(context_data={"correlation_id": "req-telemetry-1"}) as client:
            client.probe.record_fact("req-telemetry-1", "fragile")

        wait_for(lambda: counter("navigator_events_parked_total") > before["parked"], 15)
    finally:
        telemetry_log.removeHandler(capture)
        telemetry_log.setLevel(logging.NOTSET)

    assert counter("navigator_events_retried_total") - before["retried"] == 2
    assert counter("navigator_events_parked_total") - before["parked"] == 1
    assert counter("navigator_events_handled_total") == before["handled"]
    calls = REGISTRY.get_sample_value("navigator_rpc_calls_total", {"method": "record_fact"})
    assert calls - calls_before == 1
    written = [json.loads(line) for line in lines.getvalue().splitlines()]
    rpc = [line for line in written if line.get("kind") == "rpc"]
    events = [line for line in written if line.get("kind") == "event"]
    assert [line["request_id"] for line in rpc] == ["req-telemetry-1"]
    assert [(line["outcome"], line["attempts"]) for line in events] == [
        ("retried", 1),
        ("retried", 2),
        ("parked", 3),
    ]
    assert all(line["request_id"] == "req-telemetry-1" for line in events)
    assert all("the handler is broken" in line["error"] for line in events)
    assert events[-1]["level"] == "error" and events[0]["level"] == "warning"


def test_a_handler_counts_zero_of_every_outcome_from_its_start(
    nameko_config,
    probe_engine,
    probe_topology,  # noqa: F811 - the fixture imported above
    container_factory,
):
    """The parked-events alert compares with an earlier sample: the first park must be a step
    from 0, so the series exist before anything is parked (deploy/prometheus/alerts.yml)."""
    from servicekit import metrics

    for family in (metrics.EVENTS_HANDLED, metrics.EVENTS_RETRIED, metrics.EVENTS_PARKED):
        try:
            family.remove(HANDLER)  # as in a freshly started process
        except KeyError:
            pass
    assert REGISTRY.get_sample_value("navigator_events_parked_total", {"handler": HANDLER}) is None
    container_factory(ProbeService).start()
    for outcome in ("handled", "retried", "parked"):
        name = f"navigator_events_{outcome}_total"
        assert REGISTRY.get_sample_value(name, {"handler": HANDLER}) == 0.0, name
