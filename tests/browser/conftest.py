"""Browser journeys through the parents' portal: Playwright from PyPI driving Debian's
chromium (/usr/bin/chromium; no browser is downloaded).

Run by tests/e2e/test_portal.py, in a plain pytest process (Playwright's sync API does not
run under eventlet's monkey-patching), with the running system's address and its data in
PORTAL_WORLD; without it, nothing here is collected.
"""

import json
import os
from pathlib import Path

import pytest

if not os.environ.get("PORTAL_WORLD"):
    collect_ignore_glob = ["test_*.py"]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="session")
def world() -> dict:
    return json.loads(os.environ["PORTAL_WORLD"])


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(params=list(VIEWPORTS))
def size(request) -> str:
    return request.param


@pytest.fixture
def page(browser, world, size):
    """A fresh browser context (no session) at the size; the portal's CSP stays on, and a
    violation of it or an uncaught error fails the test."""
    context = browser.new_context(
        viewport=VIEWPORTS[size],
        base_url=world["base_url"],
        locale="ru-RU",
        is_mobile=size == "phone",
        has_touch=size == "phone",
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield page
    context.close()
    assert not problems, problems


class Pages:
    """Each page checked with axe-core and photographed, at the test's size."""

    def __init__(self, size: str):
        self.size = size
        self.axe = AXE.read_text()

    def check(self, page, name: str) -> None:
        page.wait_for_load_state("networkidle")
        # evaluated through the DevTools protocol, which the page's CSP does not govern
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.evaluate(self.axe + "\n;0")
        violations = page.evaluate(
            """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
                .map(v => ({id: v.id, impact: v.impact, help: v.help,
                            nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))"""
        )
        grave = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert not grave, f"{name} ({self.size}): {grave}"
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}-{self.size}.png"), full_page=True)


@pytest.fixture
def pages(size) -> Pages:
    return Pages(size)
