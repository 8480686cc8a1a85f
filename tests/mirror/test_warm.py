"""``POST /{user}/{index}/+warm`` (mirror/warm.py): what it chooses, that it stores the PEP 658
metadata too, what it reports as not fetched, and the 4xx answers to bad requests."""

from __future__ import annotations

import pytest

from .conftest import FILES, UPSTREAM, file_entry, json_page, sha256

OLD, NEW, PRE = (f"hello-{v}-py3-none-any.whl" for v in ("1.0", "2.0", "3.0b1"))
METADATA = b"Metadata-Version: 2.1\nName: hello\nVersion: 2.0\n"


def serve(httpx_mock):
    httpx_mock.add_response(
        url=UPSTREAM + "hello/",
        json=json_page("hello", [
            file_entry(OLD, b"old"),
            file_entry(NEW, b"new", **{"core-metadata": {"sha256": sha256(METADATA)}}),
            file_entry(PRE, b"pre"),
        ]),
        is_reusable=True,
    )


def warm(mirror, body, *, status=200, user="root", password=None, index="root/pypi"):
    return mirror.json("POST", f"/{index}/+warm", body, user=user, password=password,
                       status=status if status != 200 else None)


def test_a_specifier_warms_its_versions_with_their_metadata(mirror, httpx_mock):
    serve(httpx_mock)
    httpx_mock.add_response(url=FILES + NEW, content=b"new")
    httpx_mock.add_response(url=FILES + NEW + ".metadata", content=METADATA)
    outcome = warm(mirror, {"projects": [{"name": "Hello", "specifier": ">=1.5"}]}).json
    # Pre-releases only when asked for, as installers choose.
    assert outcome["result"] == {"fetched": [NEW, NEW + ".metadata"], "cached": [],
                                 "failed": []}
    again = warm(mirror, {"projects": [{"name": "hello", "specifier": ">=1.5"}]}).json
    assert again["result"]["cached"] == [NEW, NEW + ".metadata"]
    # Served from the store now, without upstream.
    assert mirror.test.get(f"/root/pypi/+f/{sha256(b'new')[:3]}/{sha256(b'new')[3:16]}/{NEW}"
                           ).body == b"new"


def test_lock_files_name_exact_files_and_failures_are_reported(mirror, httpx_mock):
    serve(httpx_mock)
    httpx_mock.add_response(url=FILES + OLD, content=b"tampered")
    httpx_mock.add_response(url=UPSTREAM + "gone/", status_code=404)
    body = {"projects": [
        {"name": "hello", "files": [OLD, "hello-9.9.tar.gz"]},
        {"name": "gone", "specifier": ""},
    ]}
    failed = warm(mirror, body).json["result"]["failed"]
    by_file = {f["filename"] or f["project"]: f["error"] for f in failed}
    assert by_file["hello-9.9.tar.gz"] == "not on upstream's page"
    assert "does not match its sha256" in by_file[OLD]
    assert by_file["gone"] == "no such project upstream"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"projects": "hello"}, "expected"),
        ({"projects": [{"specifier": ">1"}]}, "needs a 'name'"),
        ({"projects": [{"name": "hello"}]}, "either 'specifier' or 'files'"),
        ({"projects": [{"name": "hello", "specifier": ">1", "files": []}]}, "either"),
        ({"projects": [{"name": "hello", "specifier": "=>1"}]}, "invalid specifier"),
        ({"projects": [{"name": "hello", "files": [3]}]}, "list of file names"),
        ({"projects": [{"name": "x", "specifier": ""}] * 101}, "at most 100"),
    ],
)
def test_bad_requests_are_refused_with_a_message(mirror, body, message):
    assert message in warm(mirror, body, status=400).json["message"]


def test_only_the_owner_warms_and_only_mirrors(mirror):
    mirror.create_user("alice")
    body = {"projects": [{"name": "hello", "specifier": ""}]}
    refused = warm(mirror, body, user="alice", password="secret", status=403)
    assert "root/pypi" in refused.json["message"]
    response = mirror.json("POST", "/root/pypi/+warm", body, status=401)
    assert response.status_code == 401
    assert "not a mirror" in warm(mirror, body, index="root/dev", status=400).json["message"]
