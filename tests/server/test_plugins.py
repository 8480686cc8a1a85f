"""A tiny plugin that uses every hook, proving the server calls each of them."""

import argparse

from pyramid.response import Response

from pyshelf_server import hookimpl
from pyshelf_server.cli.options import server_parser, settings_from_args
from pyshelf_server.indexes.backends import Link
from pyshelf_server.plugin_api import ROUTE_INDEX, ROUTE_VERSION, IndexInfo, open_reader
from pyshelf_server.plugins import make_plugin_manager
from pyshelf_server.testing import Shelf, make_wheel


class RecordingPlugin:
    def __init__(self):
        self.calls = []

    @hookimpl
    def pyshelf_add_parser_options(self, parser):
        parser.add_argument("--recording-flag", default="off")

    @hookimpl
    def pyshelf_pyramid_configure(self, config, settings):
        self.calls.append("configure")
        config.add_route("recording.hello", "/+recording")
        config.add_view(
            lambda request: Response("hello from a plugin"), route_name="recording.hello"
        )

    @hookimpl
    def pyshelf_indexconfig_defaults(self, index_type):
        return {"uploadtrigger_recording": None} if index_type == "stage" else None

    @hookimpl
    def pyshelf_on_upload(self, request, index, project, version, file):
        self.calls.append(("upload", index.fullname, project, version, file.filename))
        return "the recorder failed on purpose" if project == "failing" else None

    @hookimpl
    def pyshelf_on_docs_upload(self, index, project, version):
        self.calls.append(("docs", index.fullname, project, version))

    @hookimpl
    def pyshelf_on_push(self, source, target, project, version):
        self.calls.append(("push", source.fullname, target, project, version))

    @hookimpl
    def pyshelf_on_remove(self, index, project, version):
        self.calls.append(("remove", index.fullname, project, version))

    @hookimpl
    def pyshelf_simple_extra_links(self, index, project):
        return [
            Link(
                filename=f"{project}-extra.tar.gz",
                path="elsewhere/extra.tar.gz",
                hashes={},
                stage="plugin",
            )
        ]

    @hookimpl
    def pyshelf_authcheck(self, request, identity):
        if request.path == "/+locked" and identity is None:
            return Response("locked", status=401)
        return None

    @hookimpl
    def pyshelf_permits(self, request, context, permission, identity):
        # Nobody may read the index named "secret" except root.
        index = getattr(context, "found", None)
        if permission == "pkg_read" and index is not None and index.name == "secret":
            return identity is not None and identity.username == "root"
        return None

    @hookimpl
    def pyshelf_get_status_info(self, request):
        return {"recording": "yes", "metrics": [["recording_calls", "counter", len(self.calls)]]}


def test_every_hook_is_called(make_app):
    plugin = RecordingPlugin()
    shelf = Shelf(make_app(plugins=[plugin]))
    assert "configure" in plugin.calls
    assert shelf.test.get("/+recording").text == "hello from a plugin"

    config = shelf.create_index("root/dev").json["result"]
    assert config["uploadtrigger_recording"] is None
    shelf.json("PATCH", "/root/dev", ["uploadtrigger_recording=http://ci.example/job"], user="root")

    shelf.upload("root/dev", *make_wheel("pkg", "1.0"), name="pkg", version="1.0")
    assert ("upload", "root/dev", "pkg", "1.0", "pkg-1.0-py3-none-any.whl") in plugin.calls
    # Plugins are told the normalised project name, however it was spelled at upload.
    filename, content = make_wheel("Fancy_Kit", "2.0")
    shelf.upload("root/dev", filename, content, name="Fancy_Kit", version="2.0")
    assert ("upload", "root/dev", "fancy-kit", "2.0", filename) in plugin.calls
    response = shelf.upload(
        "root/dev", *make_wheel("failing", "1.0"), name="failing", version="1.0"
    )
    assert response.status == "200 OK, but a trigger plugin failed: the recorder failed on purpose"

    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as docs:
        docs.writestr("index.html", "docs")
    shelf.test.post(
        "/root/dev/",
        [(":action", "doc_upload"), ("name", "pkg"), ("version", "1.0")],
        upload_files=[("content", "pkg-1.0.doc.zip", buffer.getvalue())],
        headers=shelf.auth("root"),
    )
    assert ("docs", "root/dev", "pkg", "1.0") in plugin.calls

    shelf.create_index("root/prod")
    shelf.json(
        "PUSH",
        "/root/dev",
        {"name": "pkg", "version": "1.0", "targetindex": "root/prod"},
        user="root",
    )
    assert ("push", "root/dev", "root/prod", "pkg", "1.0") in plugin.calls

    assert "pkg-extra.tar.gz" in shelf.test.get("/root/dev/+simple/pkg/").text

    shelf.json("DELETE", "/root/dev/pkg/1.0", user="root")
    assert ("remove", "root/dev", "pkg", "1.0") in plugin.calls

    shelf.test.get("/+locked", status=401)

    shelf.create_index("root/secret")
    shelf.upload("root/secret", *make_wheel("hidden", "1.0"), name="hidden", version="1.0")
    shelf.test.get("/root/secret/+simple/hidden/", status=401)
    shelf.test.get("/root/secret/+simple/hidden/", headers=shelf.auth("root"), status=200)

    status = shelf.json("GET", "/+status").json["result"]
    assert status["recording"] == "yes"
    assert status["metrics"][0][0] == "recording_calls"


def test_plugin_options_reach_the_settings():
    plugin = RecordingPlugin()
    pm = make_plugin_manager(load_entry_points=False, extra=[plugin])
    args = server_parser(pm).parse_args(["--recording-flag", "on", "--port", "4000"])
    settings = settings_from_args(args)
    assert settings.options["recording_flag"] == "on"
    assert settings.port == 4000


def test_environment_provides_option_defaults(monkeypatch):
    monkeypatch.setenv("PYSHELF_PORT", "4321")
    monkeypatch.setenv("PYSHELF_OFFLINE_MODE", "yes")
    pm = make_plugin_manager(load_entry_points=False)
    settings = settings_from_args(server_parser(pm).parse_args([]))
    assert settings.port == 4321 and settings.offline_mode is True
    settings = settings_from_args(server_parser(pm).parse_args(["--port", "5000"]))
    assert settings.port == 5000
    assert isinstance(server_parser(pm), argparse.ArgumentParser)


def test_authcheck_follows_read_permissions(make_app):
    plugin = RecordingPlugin()
    shelf = Shelf(make_app(plugins=[plugin]))
    shelf.create_index("root/secret")
    shelf.create_index("root/open")
    for uri, auth, status in [
        ("/root/open/+simple/x/", {}, 200),
        ("/root/secret/+simple/x/", {}, 401),
        ("/root/secret/+f/abc/def/x.whl", {}, 401),
        ("/root/secret/+f/abc/def/x.whl", shelf.auth("root"), 200),
        ("/+api", {}, 200),
        ("/root/secret", {}, 200),
    ]:
        response = shelf.test.get(
            "/+authcheck", headers={"X-Original-URI": uri, **auth}, status="*"
        )
        assert response.status_int == status, uri


class IndexEventsPlugin:
    """Records the index events and the route each authcheck was asked about; ``seen`` is what
    a fresh read (another transaction) finds at the time of the event."""

    def __init__(self):
        self.events = []
        self.checked = []

    def _seen(self, request, fullname):
        with open_reader(request.registry) as shelf:
            info = shelf.index(fullname)
        return None if info is None else (info.type, info.bases, info.option("title"))

    @hookimpl
    def pyshelf_index_created(self, request, index):
        self.events.append(("created", index, self._seen(request, index.fullname)))

    @hookimpl
    def pyshelf_index_changed(self, request, index, old_options):
        self.events.append(("changed", index, old_options, self._seen(request, index.fullname)))

    @hookimpl
    def pyshelf_index_deleted(self, request, index):
        self.events.append(("deleted", index, self._seen(request, index.fullname)))

    @hookimpl
    def pyshelf_authcheck(self, request, identity, route_name):
        self.checked.append((request.path, route_name, identity and identity.username))
        if route_name == ROUTE_INDEX and request.path.endswith("/locked") and identity is None:
            return Response("this index is locked", status=401)
        return None


def test_index_events_fire_after_the_commit(make_app):
    plugin = IndexEventsPlugin()
    shelf = Shelf(make_app(plugins=[plugin]))
    shelf.create_index("root/base")
    shelf.create_index("root/dev", bases=["root/base"], title="Dev")
    kind, index, seen = plugin.events[-1]
    assert kind == "created" and isinstance(index, IndexInfo)
    assert (index.fullname, index.type, index.bases, index.is_mirror) == (
        "root/dev",
        "stage",
        ("root/base",),
        False,
    )
    assert index.option("acl_upload") == ["root"]
    # Another transaction already sees the new index: the event came after the commit.
    assert seen == ("stage", ("root/base",), "Dev")

    shelf.json("PATCH", "/root/dev", ["title=Development", "bases="], user="root")
    kind, index, old_options, seen = plugin.events[-1]
    assert kind == "changed"
    assert (index.option("title"), index.bases) == ("Development", ())
    assert old_options["title"] == "Dev" and old_options["bases"] == ["root/base"]
    assert old_options["type"] == "stage" and "acl_upload" in old_options
    assert seen == ("stage", (), "Development")

    # A refused change (rolled back) is no event.
    count = len(plugin.events)
    shelf.json("PATCH", "/root/dev", ["volatile=maybe"], user="root", status=400)
    shelf.json("PATCH", "/root/dev", ["bases=root/nosuch"], user="root", status=400)
    shelf.json("PUT", "/root/dev", {}, user="root", status=409)
    assert len(plugin.events) == count

    shelf.json("DELETE", "/root/dev", user="root")
    kind, index, seen = plugin.events[-1]
    assert kind == "deleted" and index.fullname == "root/dev" and index.option("title")
    assert seen is None

    # Deleting a user deletes their indexes: one event each.
    shelf.create_user("alice")
    for name in ("a", "b"):
        shelf.create_index(f"alice/{name}", user="alice", password="secret")
    shelf.json("DELETE", "/alice", user="alice", password="secret")
    deleted = [(e[1].fullname, e[2]) for e in plugin.events[-2:] if e[0] == "deleted"]
    assert sorted(deleted) == [("alice/a", None), ("alice/b", None)]


def test_authcheck_knows_the_matched_route(make_app):
    plugin = IndexEventsPlugin()
    legacy = RecordingPlugin()  # an implementation that names only (request, identity)
    shelf = Shelf(make_app(plugins=[plugin, legacy]))
    shelf.create_index("root/dev")
    plugin.checked.clear()
    shelf.test.get("/root/dev/+simple/pkg/", status=404)
    shelf.test.get("/root/dev/pkg/1.0", headers={"Accept": "application/json"}, status=404)
    shelf.test.get("/+nothing/here", status=404)
    shelf.json("GET", "/root/dev", user="root")
    assert plugin.checked == [
        ("/root/dev/+simple/pkg/", "simple.project", None),
        ("/root/dev/pkg/1.0", ROUTE_VERSION, None),
        ("/+nothing/here", None, None),
        ("/root/dev", ROUTE_INDEX, "root"),
    ]
    # Decided before the route's context is built: an index that does not exist is refused
    # as any other, not answered 404.
    assert shelf.test.get("/root/locked", status=401).text == "this index is locked"
    shelf.test.get("/root/locked", headers=shelf.auth("root"), status=404)
    # The implementation naming only (request, identity) still runs.
    shelf.test.get("/+locked", status=401)


def test_plugin_api_exports_exist_and_route_names_are_routes(make_app):
    from pyramid.interfaces import IRoutesMapper

    from pyshelf_server import plugin_api

    missing = [name for name in plugin_api.__all__ if not hasattr(plugin_api, name)]
    assert missing == []
    routes = make_app().registry.getUtility(IRoutesMapper)
    names = [getattr(plugin_api, n) for n in plugin_api.__all__ if n.startswith("ROUTE_")]
    assert len(names) == 7
    assert [name for name in names if routes.get_route(name) is None] == []
