"""PEP 740 attestations on upload (checked, stored, served as provenance) and PEP 708 tracks /
alternate-locations, in process."""

from __future__ import annotations

import base64
import json

import pytest

from pyshelf_server.testing import Shelf, make_attestation, make_wheel

JSON = "application/vnd.pypi.simple.v1+json"


@pytest.fixture
def dev(make_app):
    shelf = Shelf(make_app())
    shelf.create_index("root/dev")
    shelf.create_index("root/child", bases="root/dev")
    return shelf


def page(shelf, path):
    return json.loads(shelf.test.get(path, headers={"Accept": JSON}).body)


def upload_attested(shelf, attestations, status=200):
    filename, content = make_wheel("attested", "1.0")
    return filename, content, shelf.upload(
        "root/dev", filename, content, name="attested", version="1.0", status=status,
        attestations=json.dumps(attestations(filename, content)),
    )  # fmt: skip


def test_attestations_come_back_as_provenance_through_inheritance(dev):
    filename, content, _ = upload_attested(dev, lambda f, c: [make_attestation(f, c)])
    for index in ("root/dev", "root/child"):
        data = page(dev, f"/{index}/+simple/attested/")
        assert data["meta"]["api-version"] == "1.3"
        [entry] = data["files"]
        assert entry["provenance"] == entry["url"].replace("~f", "+f") + ".provenance"
        html = dev.test.get(f"/{index}/+simple/attested/", headers={"Accept": "text/html"}).text
        assert 'data-provenance="../../../../root/dev/+f/' in html
    url = page(dev, "/root/child/+simple/attested/")["files"][0]["provenance"]
    answer = dev.test.get("/" + url.replace("../", ""))
    assert answer.content_type == "application/vnd.pypi.integrity.v1+json"
    provenance = answer.json
    assert provenance["version"] == 1
    [bundle] = provenance["attestation_bundles"]
    assert bundle["publisher"]["uploader"] == "root"
    assert bundle["attestations"] == [make_attestation(filename, content)]


def test_a_file_without_attestations_has_no_provenance(dev):
    filename, content = make_wheel("plain", "1.0")
    dev.upload("root/dev", filename, content, name="plain", version="1.0")
    [entry] = page(dev, "/root/dev/+simple/plain/")["files"]
    assert "provenance" not in entry
    answer = dev.test.get("/" + entry["url"].replace("../", "") + ".provenance", status=404)
    assert "No provenance available" in answer.json["message"]


def _statement_edit(edit):
    def build(filename, content):
        attestation = make_attestation(filename, content)
        statement = json.loads(base64.b64decode(attestation["envelope"]["statement"]))
        edit(statement)
        attestation["envelope"]["statement"] = base64.b64encode(
            json.dumps(statement).encode()).decode()
        return [attestation]
    return build


@pytest.mark.parametrize(
    ("attestations", "fragment"),
    [
        (lambda f, c: [make_attestation(f, b"other content")], "sha256"),
        (lambda f, c: [make_attestation("other-1.0-py3-none-any.whl", c)], "is about"),
        (lambda f, c: {"not": "a list"}, "non-empty JSON array"),
        (lambda f, c: [], "non-empty JSON array"),
        (lambda f, c: [make_attestation(f, c), make_attestation(f, c)], "more than one"),
        (lambda f, c: [{**make_attestation(f, c), "version": 2}], "version 1"),
        (lambda f, c: [{**make_attestation(f, c), "envelope": {"statement": "%%",
                                                              "signature": "eA=="}}], "base64"),
        (_statement_edit(lambda s: s.update(predicateType="https://example.invalid/x")),
         "unknown predicate type"),
        (_statement_edit(lambda s: s["subject"].append(s["subject"][0])), "exactly one subject"),
    ],
)
def test_bad_attestations_are_refused_with_the_reason(dev, attestations, fragment):
    _filename, _content, answer = upload_attested(dev, attestations, status=400)
    assert answer.status_code == 400
    assert "Invalid attestations supplied during upload" in answer.status
    assert fragment in answer.status
    assert dev.test.get("/root/dev/+simple/attested/", headers={"Accept": JSON},
                        status=404).status_code == 404  # fmt: skip


def test_tracks_and_alternate_locations_on_pages_of_the_stage_projects(dev):
    dev.json("PATCH", "/root/dev", ["tracks=https://upstream.example/simple/",
                                    "alternate_locations=https://mirror.example/simple/"],
             user="root")  # fmt: skip
    filename, content = make_wheel("shadow", "1.0")
    dev.upload("root/dev", filename, content, name="shadow", version="1.0")
    data = page(dev, "/root/child/+simple/shadow/")
    assert data["meta"]["tracks"] == ["https://upstream.example/simple/shadow/"]
    assert data["alternate-locations"] == ["https://mirror.example/simple/shadow/"]
    html = dev.test.get("/root/child/+simple/shadow/", headers={"Accept": "text/html"}).text
    assert '<meta name="pypi:tracks" content="https://upstream.example/simple/shadow/">' in html
    assert ('<meta name="pypi:alternate-locations" '
            'content="https://mirror.example/simple/shadow/">') in html  # fmt: skip
    bad = dev.json("PATCH", "/root/dev", ["tracks=not a url"], user="root", status=400)
    assert "URL ending in '/'" in bad.json["message"]


def test_a_push_keeps_the_provenance(dev):
    filename, content, _ = upload_attested(dev, lambda f, c: [make_attestation(f, c)])
    dev.create_index("root/prod")
    dev.json("PUSH", "/root/dev", {"name": "attested", "version": "1.0",
                                   "targetindex": "root/prod"}, user="root")  # fmt: skip
    [entry] = page(dev, "/root/prod/+simple/attested/")["files"]
    assert "/root/prod/+f/" in entry["provenance"]
    provenance = dev.test.get("/" + entry["provenance"].replace("../", "")).json
    assert provenance["attestation_bundles"][0]["attestations"] == [
        make_attestation(filename, content)]
