"""The pages in a real browser: headless Chromium (Debian's package) driven by Playwright.

The server is a real ``pyshelf-server`` process with the web plugin loaded from its entry
point, as ``make run`` starts it. Screenshots land in ``tests/web/screenshots/`` (not committed)
for a person to look at.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest

from pyshelf_server.testing import LiveServer, make_wheel

from .conftest import make_docs_zip

pytestmark = pytest.mark.e2e

CHROMIUM = Path(os.environ.get("PYSHELF_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(__file__).parent / "screenshots"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
DESCRIPTION = """# Widgets

A toolkit for **dashboards**, with:

- charts
- tables

```python
import widgets
widgets.show()
```
"""
DOCS = {
    "index.html": (
        "<html><head><title>Widgets docs</title></head><body><h1 id='title'>Widgets guide</h1>"
        "<p>Everything about dashboards.</p><p id='origin'>?</p>"
        "<p id='cookie'>?</p><a href='api.html'>API</a>"
        "<script src='probe.js'></script></body></html>"
    ),
    "api.html": "<html><head><title>API</title></head><body><h1>API reference</h1></body></html>",
    # Uploaded scripts run, but in an opaque origin: no access to the site's cookies.
    "probe.js": (
        "document.getElementById('origin').textContent = String(window.origin);\n"
        "try { document.getElementById('cookie').textContent = 'read:' + document.cookie; }\n"
        "catch (e) { document.getElementById('cookie').textContent = 'blocked'; }\n"
    ),
}


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture(scope="module")
def site():
    _require_chromium()
    workdir = Path(tempfile.mkdtemp(prefix="pyshelf-browser-"))
    server = LiveServer(workdir / "server").start()
    try:
        server.create_user("alice", "secret", title="Alice", description="Builds widgets")
        server.create_index("root/prod", description="Released packages", volatile=False)
        server.create_index("alice/dev", auth=("alice", "secret"), bases="root/prod",
                            description="Alice's work in progress")
        uploads = [("root/prod", "widgets", "1.0", "root", server.root_password),
                   ("alice/dev", "widgets", "2.0", "alice", "secret"),
                   ("alice/dev", "gadget_kit", "0.3", "alice", "secret")]
        for index, name, version, user, password in uploads:
            path = workdir / "dist"
            path.mkdir(exist_ok=True)
            filename, content = make_wheel(name, version, summary=f"{name} for dashboards",
                                           description=DESCRIPTION,
                                           requires_dist=["rich>=13"],
                                           extra={"Author": "Alice Example", "License": "MIT"})
            (path / filename).write_bytes(content)
            response = server.upload(index, path / filename, name=name, version=version,
                                     auth=(user, password))
            assert response.status_code == 200, response.text
        docs = httpx.post(
            server.url + "/alice/dev/", headers=_auth("alice", "secret"),
            data={":action": "doc_upload", "name": "widgets", "version": "2.0"},
            files={"content": ("widgets-2.0.doc.zip", make_docs_zip(DOCS))}, timeout=60,
        )
        assert docs.status_code == 200, docs.text
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    _require_chromium()
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="pyshelf-chromium-")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def wait_for_search(site, query: str, expected: str) -> None:
    """The indexer works in the background; wait until it has caught up."""
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page = httpx.get(site.url + "/+search", params={"query": query}, timeout=10)
        if expected in page.text:
            return
        time.sleep(0.2)
    raise AssertionError(f"{expected!r} never appeared in the search for {query!r}")


def test_navigate_root_index_project_version(site, browser):
    page = browser.new_page()
    page.goto(site.url + "/")
    assert page.title() == "Indexes · pyshelf"
    assert page.locator("text=alice/dev").first.is_visible()
    shot(page, "01-root")
    page.click("a:has-text('alice/dev')")
    page.wait_for_url("**/alice/dev")
    assert page.locator(".project-list").is_visible()
    assert page.locator("text=from root/prod").count() == 0  # widgets is alice's own here
    shot(page, "02-index")
    page.click(".project-list a:has-text('widgets')")
    page.wait_for_url("**/alice/dev/widgets")
    rows = page.locator("table.list tbody tr")
    assert rows.count() == 2
    assert "2.0" in rows.nth(0).inner_text() and "1.0" in rows.nth(1).inner_text()
    assert "root/prod" in rows.nth(1).inner_text()
    shot(page, "03-project")
    page.click("table.list a:has-text('2.0')")
    page.wait_for_url("**/alice/dev/widgets/2.0")
    assert page.locator(".readme h1").inner_text().strip() == "Widgets"
    assert page.locator(".readme strong").inner_text() == "dashboards"
    assert "widgets-2.0-py3-none-any.whl" in page.locator("table.files").inner_text()
    shot(page, "04-version")
    page.close()


def test_search_box(site, browser):
    wait_for_search(site, "dashboards", "gadget_kit")
    page = browser.new_page()
    page.goto(site.url + "/")
    page.fill(".hero input[name=query]", "gadget-kit")
    page.press(".hero input[name=query]", "Enter")
    page.wait_for_url("**/+search?query=gadget-kit")
    first = page.locator("article.result h2").first.inner_text()
    assert first == "gadget_kit"
    shot(page, "05-search-name")
    page.fill("header input[name=query]", "dashboards")
    page.press("header input[name=query]", "Enter")
    page.wait_for_url("**/+search?query=dashboards")
    assert page.locator("article.result").count() == 2
    assert page.locator("mark").first.inner_text().lower() == "dashboards"
    shot(page, "06-search-words")
    page.close()


def test_docs_in_frame_are_sandboxed(site, browser):
    page = browser.new_page()
    page.goto(site.url + "/alice/dev/widgets/2.0")
    page.click("a:has-text('Read the docs')")
    page.wait_for_url("**/alice/dev/widgets/2.0/+d/")
    frame = page.frame_locator("iframe.docs-frame")
    assert frame.locator("#title").inner_text() == "Widgets guide"
    # The uploaded script ran, in an opaque origin without the site's cookies.
    frame.locator("#origin:not(:text('?'))").wait_for()
    assert frame.locator("#origin").inner_text() == "null"
    assert frame.locator("#cookie").inner_text() == "blocked"
    shot(page, "07-docs-frame")
    frame.locator("a:has-text('API')").click()
    assert frame.locator("h1").inner_text() == "API reference"
    page.goto(site.url + "/alice/dev/widgets/latest/+doc/index.html")
    page.locator("#origin:not(:text('?'))").wait_for()
    assert page.locator("#origin").inner_text() == "null"
    shot(page, "08-docs-raw")
    page.close()


def test_phone_layout_and_status(site, browser):
    page = browser.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(site.url + "/alice/dev/widgets/2.0")
    # Nothing wider than the screen: the layout reflows instead of scrolling sideways.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    shot(page, "09-version-phone")
    page.goto(site.url + "/+status")
    assert page.locator("h1").inner_text() == "Server status"
    assert "pyshelf-web" in page.content()
    shot(page, "10-status-phone")
    page.close()


def test_yank_and_unyank_a_file_from_the_version_page(site, browser):
    """The browser's own form POST (its Origin header included) passes the same-origin check."""
    page = browser.new_page()
    page.set_extra_http_headers(_auth("alice", "secret"))
    page.goto(site.url + "/alice/dev/gadget_kit/0.3")
    row = page.locator("table.files tbody tr").first
    row.locator("input[name=reason]").fill("wrong build")
    row.locator("button:has-text('Yank file')").click()
    page.wait_for_url(lambda url: "/alice/dev/gadget-kit/0.3?yanked=" in url)
    assert "was yanked" in page.locator(".notice").first.inner_text()
    assert row.locator(".badge-yanked").is_visible()
    shot(page, "11-version-yanked")
    simple = httpx.get(site.url + "/alice/dev/+simple/gadget-kit/", timeout=10,
                       headers={"Accept": "application/vnd.pypi.simple.v1+json"})  # fmt: skip
    assert [f["yanked"] for f in simple.json()["files"]] == ["wrong build"]
    row.locator("button:has-text('Un-yank file')").click()
    page.wait_for_url(lambda url: "/alice/dev/gadget-kit/0.3?unyanked=" in url)
    assert row.locator(".badge-yanked").count() == 0
    page.close()
