"""``pyshelf-export`` / ``pyshelf-import``: a round trip through real server processes, a
folder of packages, and a dump written by the real devpi-server."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import zipfile

import httpx

from pyshelf_server.testing import (
    BIN,
    default_test_plugins,
    make_attestation,
    make_sdist,
    make_wheel,
)
from pyshelf_server.testing.postgres import new_database_url


def run(*args, check=True):
    # The plugins the test servers load (their index option defaults come along).
    env = {**os.environ, "PYSHELF_PLUGINS": ",".join(default_test_plugins())}
    done = subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True,
                          timeout=300, env=env)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def new_serverdir(serverdir):
    """Arguments for an import into a new server directory, on the tests' database."""
    url = new_database_url()
    return ["--serverdir", str(serverdir), *(["--db-url", url] if url else [])]


def docs_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", "<h1>docs</h1>")
    return buffer.getvalue()


def fill(server, tmp_path):
    """Users, indexes with options and bases, releases, docs and a tox result."""
    server.create_user("alice", "alice-password", email="alice@example.org", title="Alice")
    server.create_index("alice/base", volatile=False, title="Base", description="the base",
                        acl_upload=["alice"], mirror_whitelist=["shared"])
    server.create_index("alice/dev", bases=["alice/base"], custom_data={"team": "x"})
    uploaded = {}
    for index, (name, version, maker) in [
        ("alice/base", ("shared", "1.0", make_wheel)),
        ("alice/base", ("shared", "1.0", make_sdist)),
        ("alice/dev", ("Tool_Kit", "2.0", make_wheel)),
        ("alice/dev", ("tool-kit", "2.1", make_sdist)),
    ]:
        filename, content = maker(name, version)
        path = tmp_path / filename
        path.write_bytes(content)
        # One file carries attestations: its provenance must come along.
        attested = {"attestations": json.dumps([make_attestation(filename, content)])}
        response = server.upload(index, path, name=name, version=version,
                                 auth=("alice", "alice-password"),
                                 **(attested if name == "Tool_Kit" else {}))
        assert response.status_code == 200, response.text
        uploaded[(index, filename)] = content
    docs = server.request(
        "POST", "/alice/dev/", auth=("alice", "alice-password"),
        data={":action": "doc_upload", "name": "tool-kit", "version": "2.1"},
        files={"content": ("docs.zip", docs_zip())}, headers={"Accept": "*/*"},
    )
    assert docs.status_code == 200, docs.text
    wheel = next(f for (i, f) in uploaded if i == "alice/dev" and f.endswith(".whl"))
    sha = hashlib.sha256(uploaded[("alice/dev", wheel)]).hexdigest()
    tox = server.request("POST", f"/alice/dev/+f/{sha[:3]}/{sha[3:16]}/{wheel}",
                         json={"testenvs": {"py311": {"test": [{"retcode": 0}]}}})
    assert tox.status_code == 200, tox.text
    return uploaded


def state(server):
    """What must survive the round trip, as clients see it."""
    seen = {}
    for user in ("root", "alice"):
        data = server.request("GET", f"/{user}").json()["result"]
        data.pop("created", None)
        seen[user] = data
    for index in ("alice/base", "alice/dev"):
        for project in ("shared", "tool-kit"):
            for accept in ("text/html", "application/vnd.pypi.simple.v1+json"):
                page = httpx.get(f"{server.url}/{index}/+simple/{project}/",
                                 headers={"Accept": accept})
                # (A 404 page names the server's port.)
                seen[(index, project, accept)] = (
                    page.status_code, page.text if page.status_code == 200 else ""
                )
        for version in ("2.0", "2.1"):
            links = server.request("GET", f"/{index}/tool-kit/{version}").json()
            # Absolute links name the server's port.
            seen[(index, version)] = json.loads(json.dumps(links).replace(server.url, "URL"))
    return seen


def test_export_import_round_trip(make_live_server, tmp_path):
    source = make_live_server("source")
    uploaded = fill(source, tmp_path)
    before = state(source)
    dump = tmp_path / "dump"
    # While the server serves.
    done = run("pyshelf-export", "--serverdir", str(source.serverdir), str(dump))
    assert "exported 2 users, 3 indexes, 6 files" in done.stdout, done.stdout
    data = json.loads((dump / "dataindex.json").read_text())
    assert data["dumpversion"] == "2"
    assert data["users"]["alice"]["pwhash"].startswith("$argon2")
    assert "password" not in json.dumps(data["users"]).replace("pwhash", "")
    assert run("pyshelf-export", "--serverdir", str(source.serverdir), str(dump),
               check=False).returncode == 2  # refuses a non-empty directory

    target_dir = tmp_path / "target"
    done = run("pyshelf-import", *new_serverdir(target_dir), str(dump))
    assert "imported 2 users, 3 indexes, 6 files" in done.stdout, done.stdout
    target = make_live_server("target")
    assert target.serverdir == target_dir
    after = state(target)
    for key in before:
        assert after[key] == before[key], key
    # Byte-identical files, served by the new server.
    for (index, filename), content in uploaded.items():
        sha = hashlib.sha256(content).hexdigest()
        answer = httpx.get(f"{target.url}/{index}/+f/{sha[:3]}/{sha[3:16]}/{filename}")
        assert answer.content == content
    # Passwords work (the hashes came along); alice's non-volatile base refuses overwrites.
    assert target.login("alice", "alice-password")
    assert target.login("root")
    # An import never goes into a server that holds data already.
    again = run("pyshelf-import", "--serverdir", str(target_dir), str(dump), check=False)
    assert again.returncode == 2
    assert "already holds users or indexes" in again.stderr


def test_a_damaged_dump_imports_nothing(make_live_server, tmp_path):
    source = make_live_server("source")
    fill(source, tmp_path)
    dump = tmp_path / "dump"
    run("pyshelf-export", "--serverdir", str(source.serverdir), str(dump))
    data = json.loads((dump / "dataindex.json").read_text())
    victim = next(f for f in data["indexes"]["alice/dev"]["files"] if f["type"] == "releasefile")
    path = dump / victim["relpath"]
    path.write_bytes(path.read_bytes() + b"tampered")
    done = run("pyshelf-import", *new_serverdir(tmp_path / "target"), str(dump), check=False)
    assert done.returncode == 2
    assert "nothing imported" in done.stderr and "sha256 does not match" in done.stderr
    # A cycle of bases, a bad dump version: refused before anything is written.
    data["indexes"]["alice/base"]["indexconfig"]["bases"] = ["alice/dev"]
    (dump / "dataindex.json").write_text(json.dumps(data))
    done = run("pyshelf-import", *new_serverdir(tmp_path / "target2"), str(dump),
               check=False)
    assert "the bases form a cycle" in done.stderr
    data["dumpversion"] = "7"
    (dump / "dataindex.json").write_text(json.dumps(data))
    done = run("pyshelf-import", *new_serverdir(tmp_path / "target3"), str(dump),
               check=False)
    assert "dump version '7'" in done.stderr


def test_from_dir_loads_a_folder_and_reruns_add_only_what_is_new(make_live_server, tmp_path):
    server = make_live_server()
    packages = tmp_path / "packages"
    (packages / "sub").mkdir(parents=True)
    files = {}
    for name, version, maker, where in [
        ("alpha", "1.0", make_wheel, packages),
        ("alpha", "1.0", make_sdist, packages),
        ("beta", "0.3", make_wheel, packages / "sub"),
    ]:
        filename, content = maker(name, version)
        (where / filename).write_bytes(content)
        files[filename] = content
    (packages / "notes.txt").write_text("not a package")
    done = run("pyshelf-import", "--serverdir", str(server.serverdir), "--from-dir",
               str(packages), "--index", "root/packages")
    assert "3 files" in done.stdout, done.stdout
    page = httpx.get(f"{server.url}/root/packages/+simple/alpha/")
    assert "alpha-1.0-py3-none-any.whl" in page.text and "alpha-1.0.tar.gz" in page.text
    again = run("pyshelf-import", "--serverdir", str(server.serverdir), "--from-dir",
                str(packages), "--index", "root/packages")
    assert "0 files (3 already there)" in again.stdout
    filename, content = make_wheel("beta", "0.4")
    (packages / filename).write_bytes(content)
    third = run("pyshelf-import", "--serverdir", str(server.serverdir), "--from-dir",
                str(packages), "--index", "root/packages")
    assert "1 files (3 already there)" in third.stdout
    sha = hashlib.sha256(content).hexdigest()
    got = httpx.get(f"{server.url}/root/packages/+f/{sha[:3]}/{sha[3:16]}/{filename}")
    assert got.content == content
    # The metadata was read from the files: the wheel's core metadata is served (PEP 658).
    meta = httpx.get(f"{server.url}/root/packages/+f/{sha[:3]}/{sha[3:16]}/{filename}.metadata")
    assert meta.status_code == 200 and "Name: beta" in meta.text
    missing = run("pyshelf-import", "--serverdir", str(server.serverdir), "--from-dir",
                  str(packages), "--index", "nobody/packages", check=False)
    assert missing.returncode == 2 and "user nobody does not exist" in missing.stderr


def test_mirrored_files_come_along_with_include_mirrors(make_live_server, tmp_path):
    from tests.e2e.static_upstream import StaticIndex

    wheel = make_wheel("remote-pkg", "1.0")
    upstream = StaticIndex(tmp_path / "upstream", {"remote-pkg": [wheel]})
    try:
        source = make_live_server("source")
        source.create_index("root/mirror", type="mirror", mirror_url=upstream.url)
        page = httpx.get(f"{source.url}/root/mirror/+simple/remote-pkg/")
        href = page.text.split('href="', 1)[1].split("#", 1)[0]
        file_url = httpx.URL(f"{source.url}/root/mirror/+simple/remote-pkg/").join(href)
        assert httpx.get(file_url).content == wheel[1]
        without = tmp_path / "without"
        run("pyshelf-export", "--serverdir", str(source.serverdir), str(without))
        assert not list(without.rglob(wheel[0]))
        dump = tmp_path / "dump"
        done = run("pyshelf-export", "--serverdir", str(source.serverdir), "--include-mirrors",
                   str(dump))
        assert " 1 files" in done.stdout, done.stdout
    finally:
        upstream.stop()
    run("pyshelf-import", *new_serverdir(tmp_path / "target"), str(dump))
    target = make_live_server("target")
    # Upstream is gone: the file is served from the imported cache, at the same URL.
    path = file_url.path
    got = httpx.get(f"{target.url}{path}")
    assert got.status_code == 200, got.text
    assert got.content == wheel[1]


def simple_json(server, index, project):
    page = httpx.get(f"{server.url}/{index}/+simple/{project}/",
                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    assert page.status_code == 200, page.text
    return {f["filename"]: f.get("yanked", False) for f in page.json()["files"]}


def test_inherited_yanks_survive_the_round_trip(make_live_server, tmp_path):
    source = make_live_server("source")
    alice = ("alice", "alice-password")
    source.create_user("alice", "alice-password")
    source.create_index("alice/base", acl_upload=["alice"])
    source.create_index("alice/dev", bases=["alice/base"], acl_upload=["alice"])
    for name, maker in [("shared", make_wheel), ("shared", make_sdist),
                        ("other", make_wheel), ("other", make_sdist)]:
        filename, content = maker(name, "1.0")
        (tmp_path / filename).write_bytes(content)
        response = source.upload("alice/base", tmp_path / filename, name=name, version="1.0",
                                 auth=alice)
        assert response.status_code == 200, response.text
    # Yanks of releases alice/dev only inherits: a whole version, and one file of another.
    for project, body in [("shared", {"yanked": True, "reason": "CVE-0001"}),
                          ("other", {"yanked": True, "filename": "other-1.0.tar.gz"})]:
        answer = source.request("PATCH", f"/alice/dev/{project}/1.0", json=body, auth=alice)
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"]["kind"] == "inherited"
    expected = {
        ("alice/dev", "shared"): {"shared-1.0-py3-none-any.whl": "CVE-0001",
                                  "shared-1.0.tar.gz": "CVE-0001"},
        ("alice/dev", "other"): {"other-1.0-py3-none-any.whl": False,
                                 "other-1.0.tar.gz": True},
        # The base that holds the files is untouched.
        ("alice/base", "shared"): {"shared-1.0-py3-none-any.whl": False,
                                   "shared-1.0.tar.gz": False},
    }
    for (index, project), files in expected.items():
        assert simple_json(source, index, project) == files
    dump = tmp_path / "dump"
    run("pyshelf-export", "--serverdir", str(source.serverdir), str(dump))
    run("pyshelf-import", *new_serverdir(tmp_path / "target"), str(dump))
    target = make_live_server("target")
    for (index, project), files in expected.items():
        assert simple_json(target, index, project) == files
    data = json.loads((dump / "dataindex.json").read_text())
    kept = data["indexes"]["alice/dev"]["pyshelf"]["inherited_yanks"]
    assert [(y["project"], y["filename"], y["reason"], y["who"]) for y in kept] == [
        ("shared", "", "CVE-0001", "alice"), ("other", "other-1.0.tar.gz", None, "alice")]
    # Still the stage's own yank: un-yanking it on the restored server works as before.
    answer = target.request("PATCH", "/alice/dev/shared/1.0", json={"yanked": False}, auth=alice)
    assert answer.status_code == 200, answer.text
    assert not any(simple_json(target, "alice/dev", "shared").values())

    # Malformed yanks in a dump: a clear message, nothing imported.
    for number, (yanks, message) in enumerate([
        ("all", '"pyshelf"."inherited_yanks" must be a list'),
        ([{"project": "x" * 201, "version": "1.0"}], '"project" may be at most 200 characters'),
        ([{"project": "shared", "version": "1.0", "filename": "a" * 401}],
         '"filename" may be at most 400 characters'),
        ([{"project": "shared"}], '"version" must be a non-empty string'),
        ([{"project": "shared", "version": "1.0", "reason": 7}], '"reason" must be a string'),
        ([{"project": "shared", "version": "1.0", "created": "yesterday"}],
         '"created" is not an ISO date'),
        ([{"project": "shared", "version": "1.0", "colour": "red"}], "unknown keys colour"),
        ([{"project": "Shared", "version": "1.0"}, {"project": "shared", "version": "1.0"}],
         "shared 1.0 (every file) is listed twice"),
        (["shared"], "inherited yank 1: must be an object"),
    ]):
        data["indexes"]["alice/dev"]["pyshelf"]["inherited_yanks"] = yanks
        (dump / "dataindex.json").write_text(json.dumps(data))
        done = run("pyshelf-import", *new_serverdir(tmp_path / f"bad{number}"), str(dump),
                   check=False)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        assert "nothing imported: index alice/dev: " in done.stderr, done.stderr
        assert message in done.stderr, done.stderr


def test_a_yank_of_a_release_a_mirror_fetches_again_is_kept(make_live_server, tmp_path):
    """The restored mirror holds nothing of the project until it is asked again; the stage's
    yank of it applies as soon as it is."""
    from tests.e2e.static_upstream import StaticIndex

    wheel = make_wheel("remote-pkg", "1.0")
    upstream = StaticIndex(tmp_path / "upstream", {"remote-pkg": [wheel]})
    try:
        source = make_live_server("source")
        source.create_index("root/mirror", type="mirror", mirror_url=upstream.url)
        source.create_index("root/dev", bases=["root/mirror"])
        answer = source.request("PATCH", "/root/dev/remote-pkg/1.0",
                                json={"yanked": True, "reason": "broken"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"]["kind"] == "inherited"
        dump = tmp_path / "dump"
        run("pyshelf-export", "--serverdir", str(source.serverdir), str(dump))
        source.stop()
        run("pyshelf-import", *new_serverdir(tmp_path / "target"), str(dump))
        target = make_live_server("target")
        assert simple_json(target, "root/dev", "remote-pkg") == {wheel[0]: "broken"}
    finally:
        upstream.stop()


def test_a_project_without_versions_keeps_its_name(make_live_server, tmp_path):
    """Its last version deleted, a project stays and claims its name in the stage (it hides
    a mirror's project of the same name): a restored server must keep it."""
    source = make_live_server("source")
    source.create_index("root/dev")
    filename, content = make_wheel("Claimed_Name", "1.0")
    (tmp_path / filename).write_bytes(content)
    assert source.upload("root/dev", tmp_path / filename, name="Claimed_Name",
                         version="1.0").status_code == 200
    assert source.request("DELETE", "/root/dev/claimed-name/1.0").status_code == 200
    before = source.request("GET", "/root/dev/claimed-name")
    assert before.status_code == 200 and before.json()["result"] == {}
    dump = tmp_path / "dump"
    run("pyshelf-export", "--serverdir", str(source.serverdir), str(dump))
    run("pyshelf-import", *new_serverdir(tmp_path / "target"), str(dump))
    target = make_live_server("target")
    after = target.request("GET", "/root/dev/claimed-name")
    assert after.status_code == 200, after.text
    assert after.json()["result"] == {}
    listing = target.request("GET", "/root/dev").json()["result"]["projects"]
    assert listing == source.request("GET", "/root/dev").json()["result"]["projects"]


def test_versions_keep_their_creation_date_for_the_retention_rules(make_live_server, tmp_path):
    """``drop_prereleases_after`` counts from a version's creation: an import must not restart
    the count."""
    source = make_live_server("source")
    source.create_index("root/dev", drop_prereleases_after="30d")
    for version in ("1.0a1", "1.0"):
        filename, content = make_wheel("pkg", version)
        (tmp_path / filename).write_bytes(content)
        assert source.upload("root/dev", tmp_path / filename, name="pkg",
                             version=version).status_code == 200
    dump = tmp_path / "dump"
    run("pyshelf-export", "--serverdir", str(source.serverdir), str(dump))
    data = json.loads((dump / "dataindex.json").read_text())
    created = data["indexes"]["root/dev"]["pyshelf"]["versions_created"]
    assert set(created["pkg"]) == {"1.0a1", "1.0"}
    # As if the source had held the pre-release for long: the date must come along.
    created["pkg"]["1.0a1"] = "2020-01-01T00:00:00Z"
    (dump / "dataindex.json").write_text(json.dumps(data))
    run("pyshelf-import", *new_serverdir(tmp_path / "target"), str(dump))
    done = run("pyshelf-server", "--serverdir", str(tmp_path / "target"), "--cleanup",
               "--dry-run", "--json")
    removals = json.loads(done.stdout)["indexes"]["root/dev"]["removals"]
    assert [(r["version"], r["rule"]) for r in removals] == [("1.0a1", "drop_prereleases_after")]
    # The dates the export wrote are the source's own.
    target = make_live_server("target")
    again = tmp_path / "again"
    run("pyshelf-export", "--serverdir", str(target.serverdir), str(again))
    exported = json.loads((again / "dataindex.json").read_text())
    assert exported["indexes"]["root/dev"]["pyshelf"]["versions_created"] == created
    # A date that is not one, or for a version the dump does not hold: nothing imported.
    for number, dates in enumerate([{"pkg": {"1.0": "soon"}}, {"pkg": {"9.9": "2020-01-01"}},
                                    {"pkg": ["1.0"]}, []]):
        data["indexes"]["root/dev"]["pyshelf"]["versions_created"] = dates
        (dump / "dataindex.json").write_text(json.dumps(data))
        done = run("pyshelf-import", *new_serverdir(tmp_path / f"bad{number}"), str(dump),
                   check=False)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert "nothing imported: index root/dev: " in done.stderr, done.stderr
