"""The running system as a client sees it: health, failure of one service, the API document."""

import time

import requests

from servicekit import config


def test_health_reports_every_service_up(api):
    response = requests.get(f"{api}/health", timeout=10)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert sorted(s["service"] for s in body["services"]) == sorted(config.RUNNING_SERVICES)
    assert all(s["status"] == "up" and s["database"] for s in body["services"])


def test_stopped_service_is_reported_down_within_the_rpc_timeout(system, api):
    system.processes["payments"].stop()
    try:
        started = time.monotonic()
        response = requests.get(f"{api}/health", timeout=30)
        elapsed = time.monotonic() - started

        assert response.status_code == 503
        assert response.headers["Content-Type"].startswith("application/json")
        states = {s["service"]: s["status"] for s in response.json()["services"]}
        assert states == {
            "accounts": "up",
            "catalog": "up",
            "certificates": "up",
            "payments": "down",
            "enrollment": "up",
            "notifications": "up",
        }
        assert elapsed < 2 + 1.5, f"health took {elapsed:.1f}s with a 2 s deadline"
    finally:
        system.processes["payments"].start()
        system.wait_healthy(60)


def test_liveness_answers_without_asking_services(system):
    response = requests.get(f"{system.base_url}/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_trivial_round_trip_reaches_the_catalog(api):
    assert requests.get(f"{api}/ping", timeout=5).json() == {"service": "catalog"}


def test_openapi_document_describes_the_routes_and_errors(api):
    document = requests.get(f"{api}/openapi.json", timeout=5).json()

    assert document["openapi"].startswith("3.")
    assert "/api/v1/health" in document["paths"]
    assert "Problem" in document["components"]["schemas"]
    health = document["paths"]["/api/v1/health"]["get"]
    assert {"200", "503"} <= set(health["responses"])


def test_docs_page_is_human_readable(api):
    response = requests.get(f"{api}/docs", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "/api/v1/health" in response.text
