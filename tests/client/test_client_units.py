"""The client's services, tested without a server (HTTP goes through httpx.MockTransport)."""

from __future__ import annotations

import argparse
import base64
import configparser
import io
import json
import stat
import zipfile
from pathlib import Path

import httpx
import pytest
import tomlkit

from pyshelf_client import archives, main, pipconfig
from pyshelf_client.config import ClientDir, Current, Login
from pyshelf_client.errors import ClientError, ConnectionFailed, ServerError, UsageError
from pyshelf_client.hub import Hub, root_from_login_url
from pyshelf_client.options import KeyValue, apply_operations, parse_keyvalues
from pyshelf_client.upload import existing_hashes
from pyshelf_server.testing import make_sdist, make_wheel

ROOT = "http://shelf.example/"


# -- key=value -----------------------------------------------------------------------------------


def test_parse_keyvalues():
    assert parse_keyvalues(["volatile=False", "bases=a/b,c/d", "title="]) == [
        KeyValue("volatile", "=", "False"),
        KeyValue("bases", "=", "a/b,c/d"),
        KeyValue("title", "=", ""),
    ]
    ops = parse_keyvalues(["bases+=x/y", "bases-=a/b", "title-="], list_ops=True)
    assert [str(kv) for kv in ops] == ["bases+=x/y", "bases-=a/b", "title-="]


@pytest.mark.parametrize("bad", ["volatile", "=x", "1key=x", "bad key=x"])
def test_parse_keyvalues_rejects_malformed(bad):
    with pytest.raises(UsageError, match="malformed"):
        parse_keyvalues([bad])


def test_list_operations_only_when_modifying():
    with pytest.raises(UsageError, match="only allowed when modifying"):
        parse_keyvalues(["bases+=x/y"])


def test_apply_operations_like_a_server():
    config = {"bases": ["a/b"], "volatile": True, "title": "T"}
    ops = parse_keyvalues(["bases+=c/d", "bases+=a/b", "volatile=False", "title-="], list_ops=True)
    assert apply_operations(config, ops) == {"bases": ["a/b", "c/d"], "volatile": "False"}
    with pytest.raises(ClientError, match="doesn't have value"):
        apply_operations(config, parse_keyvalues(["bases-=z/z"], list_ops=True))


# -- client directory ------------------------------------------------------------------------------


def test_clientdir_round_trip_and_modes(tmp_path):
    clientdir = ClientDir(tmp_path / "state")
    current = Current(root=ROOT, index=ROOT + "alice/dev", features=["x"])
    clientdir.save_current(current)
    assert clientdir.load_current() == current
    assert clientdir.load_current().index_name == "alice/dev"

    clientdir.set_login(ROOT, Login(user="alice", token="tok", expires=0))
    assert clientdir.get_login(ROOT.rstrip("/")) == Login("alice", "tok", 0)
    for path in (clientdir.current_path, clientdir.auth_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(clientdir.path.stat().st_mode) == 0o700

    assert clientdir.delete_login(ROOT).user == "alice"
    assert clientdir.get_login(ROOT) is None
    assert clientdir.delete_current()
    assert not clientdir.delete_current()


def test_damaged_state_is_ignored(tmp_path):
    clientdir = ClientDir(tmp_path)
    clientdir.current_path.write_text("{not json")
    clientdir.auth_path.write_text("[]")
    assert clientdir.load_current() == Current()
    assert clientdir.get_login(ROOT) is None


def test_login_expiry():
    assert not Login("a", "t", 0).expired()
    assert Login("a", "t", 100).expired(now=100)
    assert not Login("a", "t", 100).expired(now=99)


def test_root_from_login_url():
    assert root_from_login_url("http://h:3141/+login") == "http://h:3141/"
    assert root_from_login_url("https://h/prefix/+login") == "https://h/prefix/"


# -- installer configuration -----------------------------------------------------------------------


def test_config_paths_follow_the_environment(tmp_path):
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    paths = pipconfig.config_paths(env)
    assert paths.pip == tmp_path / "cfg" / "pip" / "pip.conf"
    assert paths.uv == tmp_path / "cfg" / "uv" / "uv.toml"
    assert paths.pypirc == tmp_path / ".pypirc"
    env |= {"PIP_CONFIG_FILE": str(tmp_path / "p.conf"), "UV_CONFIG_FILE": str(tmp_path / "u")}
    paths = pipconfig.config_paths(env)
    assert (paths.pip, paths.uv) == (tmp_path / "p.conf", tmp_path / "u")


def test_pip_conf_keeps_other_settings(tmp_path):
    path = tmp_path / "pip.conf"
    path.write_text(
        "[global]\ntimeout = 60\nindex-url = http://old.example/simple/\n[install]\nuser = no\n"
    )
    pipconfig.write_pip_conf(path, "http://127.0.0.1:3141/a/dev/+simple/")
    parser = configparser.ConfigParser()
    parser.read(path)
    assert parser["global"]["index-url"] == "http://127.0.0.1:3141/a/dev/+simple/"
    assert parser["global"]["timeout"] == "60"
    assert parser["install"]["user"] == "no"
    assert "trusted-host" not in parser["global"]

    pipconfig.write_pip_conf(path, "http://shelf.example/a/dev/+simple/")
    parser.read(path)
    assert parser["global"]["trusted-host"] == "shelf.example"


def test_uv_toml_replaces_only_the_default_index(tmp_path):
    path = tmp_path / "uv.toml"
    path.write_text(
        'native-tls = true\n\n[[index]]\nname = "internal"\nurl = "https://internal.example/simple"\n'
        '\n[[index]]\nname = "old"\nurl = "https://old.example/simple"\ndefault = true\n'
    )
    pipconfig.write_uv_toml(path, "http://127.0.0.1:1/a/dev/+simple/")
    pipconfig.write_uv_toml(path, "http://127.0.0.1:2/a/dev/+simple/")
    data = tomlkit.parse(path.read_text()).unwrap()
    assert data["native-tls"] is True
    assert data["index"] == [
        {"name": "internal", "url": "https://internal.example/simple"},
        {"name": "pyshelf", "url": "http://127.0.0.1:2/a/dev/+simple/", "default": True},
    ]


def test_pypirc_keeps_other_repositories(tmp_path):
    path = tmp_path / ".pypirc"
    path.write_text(
        "[distutils]\nindex-servers =\n    other\n\n[other]\nrepository = x\npassword = p\n"
    )
    pipconfig.write_pypirc(path, "http://127.0.0.1:3141/a/dev/", "alice")
    parser = configparser.ConfigParser()
    parser.read(path)
    assert parser["distutils"]["index-servers"].split() == ["other", "pyshelf"]
    assert parser["other"]["password"] == "p"
    assert dict(parser["pyshelf"]) == {
        "repository": "http://127.0.0.1:3141/a/dev/",
        "username": "alice",
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- archives --------------------------------------------------------------------------------------


def test_describe_wheel_and_sdist(tmp_path):
    wheel_name, wheel = make_wheel("demo-pkg", "1.0", summary="a demo", requires_python=">=3.8")
    sdist_name, sdist = make_sdist("demo-pkg", "1.0", summary="a demo")
    (tmp_path / wheel_name).write_bytes(wheel)
    (tmp_path / sdist_name).write_bytes(sdist)

    described = archives.describe(tmp_path / wheel_name)
    assert (described.name, described.version) == ("demo-pkg", "1.0")
    fields = described.form_fields()
    assert fields["filetype"] == "bdist_wheel"
    assert fields["pyversion"] == "py3"
    assert fields[":action"] == "file_upload"
    assert fields["summary"] == "a demo"
    assert fields["requires_python"] == ">=3.8"
    assert fields["sha256_digest"] == described.sha256()

    described = archives.describe(tmp_path / sdist_name)
    assert described.form_fields()["filetype"] == "sdist"
    assert described.form_fields()["pyversion"] == "source"


def test_doc_zip_and_ordering(tmp_path):
    doc = tmp_path / "demo-pkg-1.0.doc.zip"
    doc.write_bytes(b"PK")
    wheel_name, wheel = make_wheel("demo-pkg", "1.0")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / wheel_name).write_bytes(wheel)
    (tmp_path / "notes.txt").write_text("ignored")
    found = archives.find_archives(tmp_path)
    assert [p.name for p in found] == [doc.name, wheel_name]
    ordered = archives.order_for_upload(archives.describe(p) for p in found)
    assert [f.basename for f in ordered] == [wheel_name, doc.name]
    assert ordered[1].form_fields() == {
        "name": "demo-pkg",
        "version": "1.0",
        ":action": "doc_upload",
        "protocol_version": "1",
    }


def test_describe_rejects_what_is_not_an_archive(tmp_path):
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(UsageError):
        archives.describe(tmp_path / "x.txt")
    (tmp_path / "broken-1.0.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(ClientError, match="cannot read its metadata"):
        archives.describe(tmp_path / "broken-1.0.tar.gz")


def test_parse_formats():
    assert archives.parse_formats(None) == {"sdist", "wheel"}
    assert archives.parse_formats("wheel") == {"wheel"}
    assert archives.parse_formats("sdist,bdist_wheel") == {"sdist", "wheel"}
    with pytest.raises(UsageError, match="unknown format 'egg'"):
        archives.parse_formats("egg")


def test_built_html_docs_are_zipped_as_they_are(tmp_path):
    project = tmp_path / "project"
    (project / "docs" / "_static").mkdir(parents=True)
    (project / "docs" / "index.html").write_text("<html></html>")
    (project / "docs" / "_static" / "x.css").write_text("")
    doczip = archives.build_docs(project, tmp_path, name="Demo_Pkg", version="1.0")
    assert doczip.name == "demo-pkg-1.0.doc.zip"
    with zipfile.ZipFile(doczip) as zf:
        assert sorted(zf.namelist()) == ["_static/x.css", "index.html"]
    with pytest.raises(UsageError, match="no documentation"):
        archives.build_docs(tmp_path / "nothing", tmp_path, name="x", version="1")


# -- command line ----------------------------------------------------------------------------------


def test_split_passthrough():
    subcommands = main.load_subcommands(main.get_pluginmanager())
    split = main.split_passthrough
    assert split(["install", "-r", "req.txt"], subcommands) == (["install"], ["-r", "req.txt"])
    assert split(["--debug", "install", "--venv", "v", "-U", "x"], subcommands) == (
        ["--debug", "install", "--venv", "v"],
        ["-U", "x"],
    )
    assert split(["install", "--", "--venv"], subcommands) == (["install"], ["--venv"])
    assert split(["list", "-f", "x"], subcommands) == (["list", "-f", "x"], [])


def test_every_subcommand_is_registered():
    subcommands = main.load_subcommands(main.get_pluginmanager())
    assert set(subcommands) == {
        "use", "login", "logoff", "user", "passwd", "index", "upload", "list", "remove",
        "push", "getjson", "install", "refresh", "mirror", "token-create", "token-list",
        "token-delete", "token-derive", "token-login", "publisher", "yank", "unyank",
    }  # fmt: skip


def test_mirror_warm_reads_requirements_and_lock_files(tmp_path):
    from pyshelf_client.mirror import read_pylock, read_requirements, read_uv_lock

    (tmp_path / "more.txt").write_text("Requests>=2 \\\n    --hash=sha256:abc\n")
    (tmp_path / "req.txt").write_text(
        "# pinned\n--index-url http://shelf.example/simple/\n-r more.txt\n"
        "requests<3 ; sys_platform == 'linux'\nattrs==23.1  # why\n"
        "local @ file:///tmp/local.whl\n"
    )
    projects, skipped = read_requirements(tmp_path / "req.txt")
    assert projects == [{"name": "requests", "specifier": ">=2,<3"},
                        {"name": "attrs", "specifier": "==23.1"}]
    assert len(skipped) == 2 and "--index-url" in skipped[0] and "direct URL" in skipped[1]

    (tmp_path / "uv.lock").write_text(
        'version = 1\n[[package]]\nname = "app"\nversion = "0.1"\n'
        'source = { editable = "." }\n'
        '[[package]]\nname = "Attrs"\nversion = "23.1"\n'
        'source = { registry = "http://shelf.example/simple/" }\n'
        'sdist = { url = "http://shelf.example/f/attrs-23.1.tar.gz", hash = "sha256:00" }\n'
        'wheels = [{ url = "http://shelf.example/f/attrs-23.1-py3-none-any.whl" }]\n'
    )
    assert read_uv_lock(tmp_path / "uv.lock") == (
        [{"name": "attrs", "files": ["attrs-23.1.tar.gz", "attrs-23.1-py3-none-any.whl"]}], []
    )
    (tmp_path / "pylock.toml").write_text(
        'lock-version = "1.0"\n[[packages]]\nname = "attrs"\nversion = "23.1"\n'
        '[[packages.wheels]]\nname = "attrs-23.1-py3-none-any.whl"\n'
        'url = "http://shelf.example/f/x.whl"\n'
        '[[packages]]\nname = "mine"\nvcs = { type = "git", url = "http://git.example/m" }\n'
    )
    projects, skipped = read_pylock(tmp_path / "pylock.toml")
    assert projects == [{"name": "attrs", "files": ["attrs-23.1-py3-none-any.whl"]}]
    assert len(skipped) == 1 and "mine" in skipped[0]


# -- the hub, over a mock transport ----------------------------------------------------------------


def make_hub(tmp_path: Path, handler, *, login: bool = True, debug: bool = False) -> Hub:
    clientdir = ClientDir(tmp_path / "client")
    clientdir.save_current(Current(root=ROOT, login=ROOT + "+login", index=ROOT + "alice/dev"))
    if login:
        clientdir.set_login(ROOT, Login("alice", "secret-token"))
    err = io.StringIO()
    return Hub(
        args=argparse.Namespace(debug=debug, yes=False),
        clientdir=clientdir,
        stdout=io.StringIO(),
        stderr=err,
        transport=httpx.MockTransport(handler),
    )


def test_login_is_sent_only_to_its_server(tmp_path):
    seen = {}

    def handler(request):
        seen[request.url.host] = request.headers.get("X-Devpi-Auth")
        return httpx.Response(200, json={"type": "x", "result": {}})

    hub = make_hub(tmp_path, handler)
    hub.request("GET", ROOT + "alice/dev")
    hub.request("GET", "http://elsewhere.example/")
    assert base64.b64decode(seen["shelf.example"]) == b"alice:secret-token"
    assert seen["elsewhere.example"] is None


def test_expired_login_is_not_sent(tmp_path):
    sent = []
    hub = make_hub(
        tmp_path, lambda r: sent.append(r.headers.get("X-Devpi-Auth")) or httpx.Response(200)
    )
    hub.clientdir.set_login(ROOT, Login("alice", "tok", expires=1))
    hub.request("GET", ROOT)
    assert sent == [None]
    assert "expired" in hub.stderr.getvalue()


def test_error_replies_carry_the_server_message(tmp_path):
    def handler(request):
        if request.url.path == "/json":
            return httpx.Response(409, json={"message": "index 'a/b' exists"})
        return httpx.Response(
            409, extensions={"reason_phrase": b"x-1.0.whl already exists in non-volatile index"}
        )

    hub = make_hub(tmp_path, handler, login=False)
    with pytest.raises(ServerError) as info:
        hub.request("PUT", ROOT + "json", what="create index a/b")
    assert info.value.message == "create index a/b: 409 index 'a/b' exists"
    reply = hub.request("POST", ROOT + "reason", ok=None)
    assert reply.message == "x-1.0.whl already exists in non-volatile index"


def test_401_and_403_hints(tmp_path):
    hub = make_hub(tmp_path, lambda r: httpx.Response(401), login=False)
    with pytest.raises(ServerError, match="not logged in"):
        hub.request("GET", ROOT)
    hub = make_hub(tmp_path, lambda r: httpx.Response(401), login=True)
    with pytest.raises(ServerError, match="may have expired"):
        hub.request("GET", ROOT)


def test_wrong_api_version_and_connection_errors(tmp_path):
    hub = make_hub(tmp_path, lambda r: httpx.Response(200, headers={"X-Devpi-Api-Version": "3"}))
    with pytest.raises(ConnectionFailed, match="API version 3"):
        hub.request("GET", ROOT)

    def refuse(request):
        raise httpx.ConnectError("[Errno 111] Connection refused")

    with pytest.raises(ConnectionFailed, match=r"cannot connect to .*: connection refused"):
        make_hub(tmp_path, refuse).request("GET", ROOT)


def test_fetch_api_recognises_non_devpi_servers(tmp_path):
    hub = make_hub(tmp_path, lambda r: httpx.Response(404, text="<html>nope</html>"))
    with pytest.raises(ConnectionFailed, match="not a pyshelf or devpi server"):
        hub.fetch_api(ROOT)
    hub = make_hub(tmp_path, lambda r: httpx.Response(200, text="hello"))
    with pytest.raises(ConnectionFailed, match="gave no apiconfig"):
        hub.fetch_api(ROOT)


def test_debug_prints_requests(tmp_path):
    hub = make_hub(tmp_path, lambda r: httpx.Response(204), debug=True)
    hub.request("DELETE", ROOT + "x", ok=None)
    log = hub.stderr.getvalue()
    assert f"> DELETE {ROOT}x" in log and f"< 204 No Content DELETE {ROOT}x" in log


def test_existing_hashes_only_counts_this_index(tmp_path):
    body = {
        "type": "projectconfig",
        "result": {
            "1.0": {
                "+links": [
                    {"rel": "releasefile", "href": ROOT + "alice/dev/+f/abc/def/p-1.0.tar.gz",
                     "hashes": {"sha256": "aaa"}},
                    {"rel": "releasefile", "href": ROOT + "root/base/+f/abc/def/p-1.0.zip",
                     "hash_spec": "sha256=bbb"},
                    {"rel": "doczip", "href": ROOT + "alice/dev/+f/abc/def/p-1.0.doc.zip",
                     "hash_spec": "sha256=ccc"},
                ]
            }
        },
    }  # fmt: skip
    requests = []

    def handler(request):
        requests.append(request)
        return httpx.Response(200, json=body)

    hub = make_hub(tmp_path, handler)
    assert existing_hashes(hub, hub.index_ref(), "p") == {
        "p-1.0.tar.gz": "aaa",
        "p-1.0.doc.zip": "ccc",
    }
    assert requests[0].url.params["ignore_bases"] == ""
    assert json.loads(json.dumps(body))  # the body is plain JSON


def test_index_ref_resolution(tmp_path):
    hub = make_hub(tmp_path, lambda r: httpx.Response(200))
    assert hub.index_ref().name == "alice/dev"
    assert hub.index_ref("prod").url == ROOT + "alice/prod"
    assert hub.index_ref("bob/x").pypisubmit == ROOT + "bob/x/"
    with pytest.raises(UsageError):
        hub.index_ref("a/b/c")


def test_token_durations_and_derivation():
    from pymacaroons import MACAROON_V2, Macaroon

    from pyshelf_client.errors import UsageError
    from pyshelf_client.tokens import derive, expiry, moment, owner

    assert moment("1700000000") == 1700000000
    assert moment("90d", now=1000) == 1000 + 90 * 86400
    assert moment("1 year 2h", now=0) == 365 * 86400 + 7200
    with pytest.raises(UsageError):
        moment("later")
    token = "devpi-" + Macaroon(identifier="a-b-XYZ", key="k", version=MACAROON_V2).serialize()
    assert owner(token) == ("a-b", "XYZ")
    narrowed = derive(token, {"expires": 500, "indexes": ["a-b/dev", "a-b/x"]})
    narrowed = derive(narrowed, {"expires": 400})
    assert narrowed.startswith("devpi-")
    assert expiry(narrowed) == 400
    caveats = [c.caveat_id_bytes.decode() for c in Macaroon.deserialize(narrowed[6:]).caveats]
    assert caveats == ["expires=500", "indexes=a-b/dev,a-b/x", "expires=400"]


# -- yank ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["requests", "requests>=1.0", "requests==1.*", "req uests==1",
                                  "requests==1.0,!=2"])  # fmt: skip
def test_yank_wants_one_exact_version(spec):
    from pyshelf_client.yank import name_and_version

    with pytest.raises(ClientError, match="expected NAME==VERSION"):
        name_and_version(spec)


def test_yank_normalises_the_name():
    from pyshelf_client.yank import name_and_version

    assert name_and_version("Foo_Bar==1.0") == ("foo-bar", "1.0")
