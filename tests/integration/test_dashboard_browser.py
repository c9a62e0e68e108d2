"""The dashboard in headless Chromium (Debian's /usr/bin/chromium driven by Playwright) on
the seeded demo pool: content, navigation, the what-if form through htmx, a phone screen."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from cocoon_pool.contracts.addresses import raw
from cocoon_pool.dashboard.app import create_app, running
from cocoon_pool.dashboard.app import ton as ton_text
from cocoon_pool.dashboard.browser import CHROMIUM, CHROMIUM_ARGS

if not os.access(CHROMIUM, os.X_OK):  # pragma: no cover - bootstrap.sh dev installs it
    pytest.skip(
        "Chromium is missing: apt-get install chromium (scripts/bootstrap.sh dev)",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, Page, expect, sync_playwright
from test_dashboard import seeded  # the same demo pool, built once

from cocoon_pool.dashboard.demo import Demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return seeded(str(tmp_path_factory.getbasetemp()))


@pytest.fixture(scope="module")
def base(demo: Demo) -> Iterator[str]:
    with running(create_app(demo.board)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def local(url: str) -> bool:
    return url.startswith("http://127.0.0.1")


@pytest.fixture
def outside() -> list[str]:
    """Requests to anywhere but the dashboard (refused, and recorded)."""
    return []


@pytest.fixture
def page(browser: Browser, outside: list[str]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.on("request", lambda r: None if local(r.url) else outside.append(r.url))
    context.route(
        "**/*", lambda route: route.continue_() if local(route.request.url) else route.abort()
    )
    yield context.new_page()
    context.close()


def test_pool_page_and_navigation(demo: Demo, base: str, page: Page) -> None:
    page.goto(base + "/")
    expect(page.locator("#commission")).to_have_text("10 %")
    expect(page.locator("#members")).to_have_text("2")
    ledger = demo.pool.sandbox.pool.ledger()
    expect(page.locator("#total-paid")).to_have_text(ton_text(ledger.paid))
    expect(page.locator("#recent-payouts tbody tr")).to_have_count(10)
    # htmx comes from the local copy; opening a page calls out to nowhere.
    assert page.evaluate("typeof window.htmx") == "object"
    assert page.evaluate("typeof window.TON_CONNECT_UI") == "undefined"
    # A member link leads to the member page...
    alice = raw(demo.pool.members["alice"].address)
    page.locator(f'#recent-payouts a[href="/member/{quote(alice, safe="")}"]').first.click()
    expect(page.locator("#tier")).to_have_text("bonus")
    expect(page.locator("svg.chart")).to_have_count(3)
    expect(page.locator("#payouts tbody tr")).to_have_count(3)
    # ...and the menu to the operator page.
    page.get_by_role("link", name="Operator").click()
    expect(page.locator("#pending-changes")).to_contain_text("commission to 12 %")
    expect(page.locator("#health-keeper")).to_contain_text("not configured")


def test_tonconnect_loads_on_demand(base: str, page: Page, outside: list[str]) -> None:
    page.goto(base + "/")
    page.wait_for_load_state("networkidle")
    assert outside == []
    with page.expect_response(lambda r: r.url.endswith("/static/vendor/tonconnect-ui.min.js")):
        page.click("#tc-connect")
    page.wait_for_function("typeof window.TON_CONNECT_UI === 'object'")
    assert page.evaluate("typeof window.TON_CONNECT_UI.TonConnectUI") == "function"
    expect(page.locator("#tc-connect")).to_be_hidden()
    # Only now does the SDK ask for its wallet list (refused here: no network in tests).
    page.wait_for_timeout(300)
    assert all(not local(u) for u in outside)


def test_member_search_and_join_fragment(demo: Demo, base: str, page: Page) -> None:
    page.goto(base + "/")
    carol = demo.board.friendly(raw(demo.pool.members["carol"].address), bounceable=False)
    page.fill("form.find input[name=address]", carol)
    page.click("form.find button")
    expect(page.locator("#member-address")).to_have_text(carol)
    expect(page.locator("#tier")).to_have_text("major-penalty+outages")
    page.goto(base + "/")
    page.fill("#join input[name=stake]", "25")
    page.click("#join button[type=submit]")
    expect(page.locator("#join-action .amount")).to_contain_text("Send 25.2 TON")
    assert page.url == base + "/"  # htmx swapped the fragment, no navigation


def test_whatif_form_through_htmx(demo: Demo, base: str, page: Page) -> None:
    page.goto(base + "/whatif")
    expect(page.locator("#whatif-summary")).to_contain_text("recorded commission")
    expect(page.locator("#whatif-summary")).to_contain_text("model = chain")
    page.fill("input[name=commission]", "1200")
    page.click("#whatif-form button")
    expect(page.locator("#whatif-summary h2")).to_contain_text("commission 12 %")
    assert page.url == base + "/whatif"  # swapped in place by htmx
    with demo.sessions() as session:
        from cocoon_pool.whatif import what_if  # noqa: PLC0415

        result = what_if(session, commission_bps=1200)
    expect(page.locator("#whatif-commission")).to_have_text(ton_text(result.commission[1]))
    page.fill("input[name=commission]", "3000")
    page.click("#whatif-form button")
    expect(page.locator("#whatif-result")).to_contain_text("is outside 500..1500")


def test_phone_viewport(demo: Demo, base: str, browser: Browser, tmp_path: Path) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    phone = context.new_page()
    alice = quote(raw(demo.pool.members["alice"].address), safe="")
    for path in ("/", f"/member/{alice}", "/operator", "/whatif"):
        phone.goto(base + path)
        # Nothing wider than the screen: wide tables scroll inside their own box.
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
        expect(phone.get_by_role("link", name="What-if")).to_be_visible()
    phone.goto(base + "/")
    box = phone.locator("#commission").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390
    context.close()
