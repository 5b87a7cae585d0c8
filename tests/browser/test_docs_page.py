"""The browsable API page, opened in headless Chromium."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from featurestore import create_app

CHROMIUM = "/usr/bin/chromium"
# Flags that keep Chromium off the network apart from the page under test.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def server_url() -> Iterator[str]:
    """The app served on a free loopback port; the page needs no DynamoDB or Kafka."""
    server = make_server("127.0.0.1", 0, create_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_docs_page_lists_every_operation(server_url):
    document = create_app().test_client().get("/openapi.json").get_json()
    operations = {
        (method.upper(), path)
        for path, methods in document["paths"].items()
        for method in methods
    }
    requested_hosts = set()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.on(
            "request", lambda request: requested_hosts.add(urlsplit(request.url).netloc)
        )
        page.goto(f"{server_url}/docs")
        page.wait_for_selector(".opblock", timeout=15_000)
        shown = {
            (
                block.query_selector(".opblock-summary-method").inner_text().strip(),
                block.query_selector(".opblock-summary-path").inner_text().strip(),
            )
            for block in page.query_selector_all(".opblock")
        }
        browser.close()

    assert operations <= {
        (method, path.replace("\u200b", "")) for method, path in shown
    }
    assert requested_hosts == {urlsplit(server_url).netloc}
