"""``/+health``, ``/+ready`` and ``/+metrics`` of a real server process."""

from __future__ import annotations

import sqlite3

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pyshelf_server.testing import make_wheel, on_postgresql
from tests.e2e.static_upstream import StaticIndex


def scrape(server, **headers):
    response = httpx.get(server.url + "/+metrics", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            samples[key] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples, name, **labels):
    """The sum of ``name`` over the series whose labels include ``labels``."""
    return sum(
        v for (n, have), v in samples.items()
        if n == name and set(labels.items()) <= set(have)
    )


@pytest.fixture
def upstream(tmp_path):
    index = StaticIndex(tmp_path / "upstream", {"remote-pkg": [make_wheel("remote-pkg", "1.0")]})
    yield index
    index.stop()


def test_health_and_ready_answer_without_a_session(make_live_server):
    server = make_live_server()
    health = httpx.get(server.url + "/+health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    ready = httpx.get(server.url + "/+ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "storage": "ok", "upstream": "ok"}
    assert httpx.head(server.url + "/+ready").status_code == 200
    assert httpx.post(server.url + "/+health").status_code == 405
    # A user may not be called like the probes: they are not user pages.
    assert "X-Devpi-Serial" not in health.headers


def test_ready_fails_on_an_old_schema_and_an_unwritable_store(make_live_server):
    if on_postgresql():
        pytest.skip("the schema is changed through the SQLite file here")
    server = make_live_server()
    database = server.serverdir / "pyshelf.sqlite3"
    connection = sqlite3.connect(database)
    (current,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    connection.execute("UPDATE alembic_version SET version_num = '0001'")
    connection.commit()
    try:
        ready = httpx.get(server.url + "/+ready")
        assert ready.status_code == 503
        checks = ready.json()["checks"]
        assert ready.json()["status"] == "fail"
        assert checks["database"].startswith("fail: the schema is older"), checks
        assert checks["storage"] == "ok"
        # Liveness does not depend on the database.
        assert httpx.get(server.url + "/+health").status_code == 200
        samples = scrape(server)
        assert value(samples, "pyshelf_up", part="database") == 0
    finally:
        connection.execute("UPDATE alembic_version SET version_num = ?", (current,))
        connection.commit()
        connection.close()
    assert httpx.get(server.url + "/+ready").status_code == 200
    # The store's temporary directories cannot take a new one: the store is not writable.
    tmp = server.serverdir / "files" / "tmp"
    for spool in tmp.iterdir():
        spool.rename(spool.with_name(spool.name + ".moved"))
        spool.write_text("not a directory any more")
    (server.serverdir / "files").chmod(0o500)
    tmp.chmod(0o500)
    try:
        ready = httpx.get(server.url + "/+ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["storage"].startswith("fail: cannot write to the file store")
        assert ready.json()["checks"]["database"] == "ok"
    finally:
        tmp.chmod(0o700)
        (server.serverdir / "files").chmod(0o700)


def test_metrics_move_with_traffic(make_live_server, upstream, tmp_path):
    server = make_live_server()
    server.create_index("root/dev", volatile=True)
    server.create_index("root/mirror", type="mirror", mirror_url=upstream.url)
    filename, content = make_wheel("hosted-pkg", "1.0")
    wheel = tmp_path / filename
    wheel.write_bytes(content)
    before = scrape(server)

    assert server.upload("root/dev", wheel, name="hosted-pkg", version="1.0").status_code == 200
    for _ in range(3):
        page = httpx.get(server.url + "/root/dev/+simple/hosted-pkg/")
        assert page.status_code == 200
    link = server.request("GET", "/root/dev/hosted-pkg/1.0").json()["result"]["+links"][0]["href"]
    assert httpx.get(link).content == content
    assert httpx.post(server.url + "/+login", json={"user": "root", "password": "wrong"},
                      headers={"Accept": "application/json"}).status_code == 401
    # The mirror: a cold page (miss), the same page again (hit), its file twice (miss, hit).
    mirror_page = httpx.get(server.url + "/root/mirror/+simple/remote-pkg/")
    assert mirror_page.status_code == 200
    assert httpx.get(server.url + "/root/mirror/+simple/remote-pkg/").status_code == 200
    file_url = server.request("GET", "/root/mirror/remote-pkg").json()["result"]
    href = next(iter(file_url.values()))["+links"][0]["href"]
    first = httpx.get(href)
    second = httpx.get(href)
    assert first.status_code == second.status_code == 200

    after = scrape(server)
    grew = lambda name, **labels: total(after, name, **labels) - total(before, name, **labels)  # noqa: E731
    assert grew("pyshelf_http_requests_total", route="simple.project", code="200") >= 3
    assert grew("pyshelf_http_request_duration_seconds_count", route="simple.project") >= 3
    assert grew("pyshelf_uploads_total", index="root/dev", outcome="ok") == 1
    assert grew("pyshelf_upload_bytes_total", index="root/dev") >= len(content)
    assert grew("pyshelf_file_downloads_total", index="root/dev") == 1
    assert grew("pyshelf_file_downloads_total", index="root/mirror") == 2
    remote_size = len(make_wheel("remote-pkg", "1.0")[1])
    # The cold mirror file streams as it arrives (no Content-Length); the others are counted.
    assert grew("pyshelf_http_response_bytes_total", kind="file") >= len(content) + remote_size
    assert grew("pyshelf_logins_total", outcome="failed") == 1
    assert grew("pyshelf_mirror_page_requests_total", index="root/mirror", result="miss") == 1
    assert grew("pyshelf_mirror_page_requests_total", index="root/mirror", result="hit") >= 1
    assert grew("pyshelf_mirror_file_requests_total", index="root/mirror", result="miss") == 1
    assert grew("pyshelf_mirror_file_requests_total", index="root/mirror", result="hit") == 1
    assert grew("pyshelf_mirror_cache_hit_bytes_total", index="root/mirror") == remote_size
    assert grew("pyshelf_upstream_requests_total", kind="page", outcome="2xx") == 1
    assert grew("pyshelf_upstream_requests_total", kind="file", outcome="2xx") == 1
    assert grew("pyshelf_upstream_bytes_total") > 0
    assert value(after, "pyshelf_up", part="database") == 1
    assert value(after, "pyshelf_up", part="storage") == 1
    assert total(after, "pyshelf_build_info") == 1
    assert total(after, "pyshelf_disk_free_bytes", path="files") > 0
    assert total(after, "pyshelf_serial") >= 3
    assert total(after, "process_resident_memory_bytes") > 0
    # No series per project or file.
    assert not any("hosted-pkg" in str(labels) or "remote-pkg" in str(labels)
                   for _, labels in after)

    # Upstream gone: the cached page is served stale and the page counts so.
    upstream.stop()
    server.request("PATCH", "/root/mirror", json=["mirror_cache_expiry=0"])
    assert httpx.get(server.url + "/root/mirror/+simple/remote-pkg/").status_code == 200
    ready = httpx.get(server.url + "/+ready").json()
    assert ready["status"] == "ok"
    assert ready["checks"]["upstream"].startswith("degraded"), ready
    stale = scrape(server)
    assert total(stale, "pyshelf_mirror_page_requests_total", result="stale") >= 1
    assert total(stale, "pyshelf_upstream_requests_total", kind="page",
                 outcome="connect_error") >= 1


def test_metrics_token_and_switching_metrics_off(make_live_server):
    server = make_live_server(args=["--metrics-token", "s3cret"])
    assert httpx.get(server.url + "/+metrics").status_code == 401
    wrong = httpx.get(server.url + "/+metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    samples = scrape(server, Authorization="Bearer s3cret")
    assert total(samples, "pyshelf_build_info") == 1
    off = make_live_server("off", env={"PYSHELF_NO_METRICS": "1"})
    assert httpx.get(off.url + "/+metrics").status_code == 404
    assert httpx.get(off.url + "/+ready").status_code == 200
