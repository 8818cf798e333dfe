"""The interactive docs page in a real headless Chromium (Debian's, driven by Playwright): it
renders every operation from /openapi.json with no request leaving the machine, and "Try it
out" on POST /predict gets a prediction, with and without an API key.

Skipped when Chromium is not installed (`apt-get install -y chromium`), unless REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import fakeredis
import pytest
from werkzeug.serving import make_server

from adapters.settings import Settings
from api.app import create_app

from support import paths

pytestmark = pytest.mark.slow  # drives Chromium

MODEL_DIR = str(paths.MODEL_DIR)
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Flags that keep Chromium from reaching out to the (closed) network."""
TIMEOUT_MS = 20_000
RECORD = '{"user_id": "docs-1", "country": "es", "platform": "android", "event_2": 5}'


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message + " and REQUIRE_BROWSER=1", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


def serve(app):
    """The app on an ephemeral port of 127.0.0.1, in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        app.extensions["d7"].close()


@pytest.fixture
def base_url(sqlite_url):
    app = create_app(
        Settings(database_url=sqlite_url, model_dir=MODEL_DIR),
        redis=fakeredis.FakeRedis(),
        start_publisher=False,
    )
    yield from serve(app)


@pytest.fixture
def secured_base_url(sqlite_url):
    app = create_app(
        Settings(database_url=sqlite_url, model_dir=MODEL_DIR, api_key="s3cret"),
        redis=fakeredis.FakeRedis(),
        start_publisher=False,
    )
    yield from serve(app)


def open_docs(browser, url: str):
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{url}/docs")
    return page, requested


def try_predict(page) -> str:
    """Expand POST /predict, fill the body, execute; returns the response body text."""
    block = page.locator("#operations-predictions-post_predict")
    block.locator(".opblock-summary").click()
    block.get_by_role("button", name="Try it out").click()
    block.locator("textarea.body-param__text").fill(RECORD)
    block.get_by_role("button", name="Execute").click()
    response = block.locator(".live-responses-table .response").first
    response.wait_for()
    assert response.locator(".response-col_status").inner_text().strip() == "200"
    return response.locator(".response-col_description pre").first.inner_text()


def test_docs_render_and_try_it_out(browser, base_url, tmp_path):
    page, requested = open_docs(browser, base_url)
    page.locator(".opblock").first.wait_for()
    summaries = page.locator(".opblock-summary-path").all_inner_texts()
    for path in ("/predict", "/users/{user_id}/prediction", "/events", "/batch-jobs", "/model"):
        assert any(text.replace("\u200b", "") == path for text in summaries), summaries
    body = try_predict(page)
    assert '"predicted_revenue"' in body and '"docs-1"' in body
    page.screenshot(path=str(tmp_path / "docs.png"), full_page=True)
    outside = [url for url in requested if not url.startswith(base_url)]
    assert outside == [], outside
    page.close()


def test_docs_with_api_key(browser, secured_base_url):
    page, _ = open_docs(browser, secured_base_url)
    page.locator("#key-state").wait_for()
    assert page.locator(".opblock").count() == 0  # the spec needs the key
    page.fill("#api-key", "s3cret")
    page.get_by_role("button", name="Use key").click()
    page.locator(".opblock").first.wait_for()
    body = try_predict(page)
    assert '"predicted_revenue"' in body
    page.close()
