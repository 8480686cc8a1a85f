"""Generated bad input thrown at the in-process server.

Whatever arrives — odd paths, broken JSON, wrong types, mangled forms and archives, broken
credentials — the answer is a 4xx (or a success), never a 500; an error to a request that
accepts JSON is ``application/json`` with a one-line ``message``; a refused upload leaves no
blob behind; and the server still answers a known page afterwards.

Each test builds one application and throws a bounded number of examples at it, so the state
they leave (users, indexes, files) accumulates as it would on a real server.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import socket
import tarfile
import zipfile
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyshelf_server.testing import ROOT_PASSWORD, Shelf, basic_auth, make_sdist, make_wheel
from pyshelf_server.upload.push import PUSH_REQUEST_KEYS

# PYSHELF_FUZZ_EXAMPLES raises the count for a longer hunt by hand.
FUZZ = settings(
    max_examples=int(os.environ.get("PYSHELF_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "PUSH", "OPTIONS"]

# Path segments, already as they go on the wire (percent-encoded where needed).
ODD_SEGMENTS = [
    "",
    ".",
    "..",
    "%2e%2e",
    "%2E%2E",
    ".%2e",
    "+f",
    "%2Bf",
    "+simple",
    "%2bsimple",
    "+api",
    "+e",
    "+login",
    "+status",
    "+authcheck",
    "+nothing",
    "%00",
    "a%00b",
    "%ff",
    "%c3%28",
    "%ed%a0%80",
    "\\",
    "%5c",
    "..%5c..%5cetc",
    "%2f",
    "..%2f..%2fetc",
    "root",
    "dev",
    "pypi",
    "pkg",
    "Pkg_Name",
    "1.0",
    "1.0%20",
    "x" * 300,
    "%C3%A4",
    "%E7%94%A8%E6%88%B7",
    "%F0%9F%90%8D",
    "refresh",
    "abc",
    "def",
    "pkg-1.0-py3-none-any.whl",
    "pkg-1.0-py3-none-any.whl.metadata",
    "%3Cscript%3E",
    "a;b",
    "a%3Bb",
    "~",
    "@",
    "-",
    "_",
    "%20",
    "%0a",
    "%0d%0aX-Injected:%201",
]

segment = st.one_of(
    st.sampled_from(ODD_SEGMENTS),
    st.text(min_size=1, max_size=20).map(lambda s: quote(s, safe="+@")),
)
paths = st.lists(segment, min_size=0, max_size=7).map(lambda parts: "/" + "/".join(parts))
query = st.one_of(
    st.just(""),
    st.sampled_from(
        ["?no_projects=", "?force=", "?ignore_bases=", "?error_on_noop=", "?%ff=%00", "?a=b&a=c"]
    ),
)

ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "text/html",
    "application/vnd.pypi.simple.v1+json",
    "application/vnd.pypi.simple.v1+html",
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.1, "
    "text/html;q=0.01",
    "application/json;q=nonsense",
    "text/html;q=2, application/json;q=-1",
    ";;;,,,",
    "\u00e4/\u00f6",
    "x" * 5000,
]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


AUTH_HEADERS = st.one_of(
    st.just({}),
    st.just(basic_auth("root", ROOT_PASSWORD)),
    st.sampled_from(
        [
            {"Authorization": "Basic"},
            {"Authorization": "Basic "},
            {"Authorization": "Basic !!!!"},
            {"Authorization": "Basic " + b64(b"root")},
            {"Authorization": "Basic " + b64(b":")},
            {"Authorization": "Basic " + b64(b"\xff\xfe:\xff")},
            {"Authorization": "Basic " + b64(b"root:\x00")},
            {"Authorization": "Basic " + b64(b"root:" + b"x" * 10000)},
            {"Authorization": "Basic " + b64("root:\udcff".encode("utf-8", "surrogatepass"))},
            {"Authorization": "Bearer abc"},
            {"Authorization": "Digest username=root"},
            {"Authorization": "basic " + b64(b"root:wrong")},
            {"X-Devpi-Auth": "garbage"},
            {"X-Devpi-Auth": "  " + b64(b'root:["root", [], true].1.sig') + "  "},
            {"X-Devpi-Auth": b64(b"root:[")},
            {"X-Devpi-Auth": b64(b"root:[1, 2].x.y")},
            {"X-Devpi-Auth": b64(b'nobody:["nobody", [], true].abc.def')},
            {"X-Devpi-Auth": b64("\u00e4:\u00f6".encode("latin-1"))},
            {"X-Devpi-Auth": b64(b"\x00:\x00")},
        ]
    ),
    st.builds(
        lambda raw: {"Authorization": "Basic " + b64(raw)},
        st.binary(max_size=40),
    ),
    st.builds(lambda raw: {"X-Devpi-Auth": b64(raw)}, st.binary(max_size=40)),
)

OTHER_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "If-None-Match": st.sampled_from(['"abc"', "*", "W/", '"', ",,,", "x" * 2000]),
        "User-Agent": st.sampled_from(["pip/24.0", "uv/0.4", "devpi-client/7.3.0", "", "\u00e4"]),
        "X-Outside-Url": st.sampled_from(["https://example.test/prefix", "", "not a url"]),
        "X-Devpi-Absolute-Urls": st.just("1"),
        "Content-Type": st.sampled_from(
            [
                "application/json",
                "text/plain",
                "multipart/form-data",
                "multipart/form-data; boundary=",
                "application/x-www-form-urlencoded",
                "application/json; charset=latin-1",
            ]
        ),
    },
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(
        ["", "root/dev", "root/pypi", "a,b", "False", "True", ":ANONYMOUS:", "x" * 500]
    ),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)

USER_KEYS = ["password", "pwhash", "email", "title", "description", "custom_data", "created"]
INDEX_KEYS = [
    "type",
    "bases",
    "volatile",
    "acl_upload",
    "acl_toxresult_upload",
    "mirror_whitelist",
    "mirror_whitelist_inheritance",
    "mirror_url",
    "mirror_web_url_fmt",
    "pypi_whitelist",
    "title",
    "description",
    "projects",
]
PUSH_KEYS = sorted(PUSH_REQUEST_KEYS)
LOGIN_KEYS = ["user", "password"]


def objects_with(keys: list[str]) -> st.SearchStrategy:
    return st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), json_values, max_size=6)


def encode_json(value: object) -> bytes:
    return json.dumps(value).encode()


json_bodies = st.one_of(
    json_values.map(encode_json),
    objects_with(USER_KEYS + INDEX_KEYS + PUSH_KEYS + LOGIN_KEYS).map(encode_json),
    st.sampled_from(
        [
            b"",
            b"{",
            b"[",
            b"null",
            b'"\\ud800"',
            b'{"password": "\\ud800"}',
            b'{"user": "\\udfff", "password": "\\ud800"}',
            b'["volatile=\\ud800"]',
            b'{"\\ud800": 1}',
            b"\xff\xfe\x00",
            b"{}" * 1000,
            b"[" * 5000 + b"]" * 5000,
            b'{"a": ' + b"1" * 5000 + b"}",
            b"1e999",
            b"NaN",
            b'{"user": "root", "password": "' + ROOT_PASSWORD.encode() + b'"}',
        ]
    ),
    st.binary(max_size=60),
)


@pytest.fixture
def fuzzed(make_app):
    """An application with a user, two indexes and a file, as a fuzzed server would have."""
    shelf = Shelf(make_app())
    shelf.create_user("alice", "alicepw")
    shelf.create_index("root/dev")
    shelf.create_index("root/prod", volatile=False, bases="root/dev")
    filename, content = make_wheel("pkg", "1.0")
    shelf.upload("root/dev", filename, content, name="pkg", version="1.0")
    return shelf


def blobs(shelf: Shelf) -> set[str]:
    root = shelf.app.registry.pyshelf.files.root
    return {p.name for p in root.glob("??/*") if p.is_file()}


def temporary_files(shelf: Shelf) -> list[str]:
    return [p.name for p in shelf.app.registry.pyshelf.files.tmpdir.iterdir()]


def one_line(text: str) -> bool:
    return "\n" not in text.strip() and "\r" not in text


def check_answer(response, *, accepts_json: bool, method: str) -> None:
    """What every answer must look like."""
    status = response.status_int
    assert status < 500, (status, response.status, response.body[:500])
    if method == "HEAD":
        assert response.body == b"", response.body[:200]
    reason = response.status.split(" ", 1)[1] if " " in response.status else ""
    assert one_line(reason), response.status
    if status >= 400 and accepts_json and method != "HEAD":
        assert response.headers["Content-Type"] == "application/json", (
            response.status,
            response.headers.get("Content-Type"),
            response.body[:300],
        )
        data = json.loads(response.body)
        assert isinstance(data, dict) and isinstance(data.get("message"), str), data
        assert one_line(data["message"]), data["message"]
    if status >= 400:
        assert response.headers.get("X-Devpi-Api-Version") == "2", response.headers


def still_serving(shelf: Shelf) -> None:
    response = shelf.json("GET", "/+api")
    assert response.status_int == 200
    response = shelf.json("GET", "/root/dev/pkg/1.0")
    assert response.json["result"]["+links"], response.json


def send(shelf: Shelf, method: str, path: str, body: bytes, headers: dict[str, str]):
    return shelf.test.request(path, method=method, body=body, headers=headers, expect_errors=True)


@FUZZ
@given(
    method=st.sampled_from(METHODS),
    path=paths,
    query=query,
    accept=st.sampled_from(ACCEPTS),
    auth=AUTH_HEADERS,
    other=OTHER_HEADERS,
    body=st.one_of(st.just(b""), json_bodies),
)
def test_random_requests(fuzzed, method, path, query, accept, auth, other, body):
    before = blobs(fuzzed)
    headers = {**auth, **other}
    if accept is not None:
        headers["Accept"] = accept
    response = send(fuzzed, method, path + query, body, headers)
    accepts_json = accept is not None and "application/json" in accept
    is_form_post = method == "POST" and headers.get("Content-Type", "").startswith(
        ("multipart/", "application/x-www-form-urlencoded")
    )
    check_answer(response, accepts_json=accepts_json and not is_form_post, method=method)
    if response.status_int >= 400:
        assert blobs(fuzzed) == before
    still_serving(fuzzed)


@FUZZ
@given(
    method=st.sampled_from(["PUT", "PATCH"]),
    target=st.sampled_from(["/alice", "/fuzzuser", "/root", "/root/dev", "/root/fuzzindex"]),
    body=st.one_of(
        objects_with(USER_KEYS).map(encode_json),
        objects_with(INDEX_KEYS).map(encode_json),
        st.lists(
            st.one_of(
                st.builds(
                    lambda k, op, v: f"{k}{op}{v}",
                    st.sampled_from(INDEX_KEYS) | st.text(max_size=6),
                    st.sampled_from(["=", "+=", "-=", "=="]),
                    st.text(max_size=12) | st.sampled_from(["root/pypi", "root/dev", "a,b,,"]),
                ),
                json_scalars,
            ),
            max_size=5,
        ).map(encode_json),
        json_bodies,
    ),
    user=st.sampled_from([None, "root", "alice"]),
)
def test_user_and_index_writes(fuzzed, method, target, body, user):
    password = {"root": ROOT_PASSWORD, "alice": "alicepw"}.get(user)
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if user is not None:
        headers.update(basic_auth(user, password))
    response = send(fuzzed, method, target, body, headers)
    check_answer(response, accepts_json=True, method=method)
    if response.status_int < 400 and target in ("/fuzzuser", "/root/fuzzindex"):
        # Created: it must read back as JSON, and it is removed for the next example.
        shown = fuzzed.json("GET", target)
        assert shown.status_int == 200
        json.dumps(shown.json)
        if target == "/root/fuzzindex":
            fuzzed.json("PATCH", target, ["volatile=True"], user="root", status=200)
        fuzzed.json("DELETE", target, user="root", status=None)
    # Whatever was changed, the fixtures still work as the client expects.
    listing = fuzzed.json("GET", "/").json["result"]
    for config in listing.values():
        for index in config.get("indexes", {}).values():
            assert "volatile" in index
    json.dumps(listing)
    still_serving_basic(fuzzed)


def still_serving_basic(shelf: Shelf) -> None:
    assert shelf.json("GET", "/+api").status_int == 200


@FUZZ
@given(
    body=st.one_of(
        objects_with(PUSH_KEYS).map(encode_json),
        st.fixed_dictionaries(
            {
                "name": st.sampled_from(["pkg", "PKG", "nothing", ""]) | json_scalars,
                "version": st.sampled_from(["1.0", "2.0"]) | json_scalars,
            },
            optional={
                "targetindex": st.sampled_from(
                    ["root/prod", "root/dev", "root/pypi", "alice/none", "root", "/", "a/b/c"]
                )
                | json_values,
                "posturl": st.sampled_from(["", "notaurl", "file:///etc/passwd", "http://[::1"])
                | json_values,
                "no_docs": json_values,
                "only_docs": json_values,
                "register_project": json_values,
                "username": json_values,
                "password": json_values,
            },
        ).map(encode_json),
    ),
    method=st.sampled_from(["PUSH", "POST"]),
    user=st.sampled_from([None, "root", "alice"]),
)
def test_push_bodies(fuzzed, body, method, user):
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if user is not None:
        headers.update(basic_auth(user, {"root": ROOT_PASSWORD, "alice": "alicepw"}[user]))
    before = blobs(fuzzed)
    response = send(fuzzed, method, "/root/dev", body, headers)
    check_answer(response, accepts_json=True, method=method)
    if response.status_int >= 400:
        assert blobs(fuzzed) == before
    still_serving(fuzzed)


@FUZZ
@given(body=json_bodies, auth=AUTH_HEADERS, accept=st.sampled_from([None, "application/json"]))
def test_login_bodies(fuzzed, body, auth, accept):
    headers = {**auth, "Content-Type": "application/json"}
    if accept:
        headers["Accept"] = accept
    response = send(fuzzed, "POST", "/+login", body, headers)
    check_answer(response, accepts_json=True, method="POST")
    if response.status_int == 200:
        assert response.json["type"] == "proxyauth"


# -- uploads -------------------------------------------------------------------------------


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_bytes(members: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo("fuzz-1.0/PKG-INFO")
            info.type = tarfile.SYMTYPE
            info.linkname = symlink
            archive.addfile(info)
    return buffer.getvalue()


HUGE = b"Metadata-Version: 2.1\nName: fuzz\nVersion: 1.0\n" + b"Classifier: x\n" * 20000


def _corrupt(data: bytes, at: int, junk: bytes) -> bytes:
    at = at % max(len(data), 1)
    return data[:at] + junk + data[at + len(junk) :]


valid_wheel = make_wheel("fuzz", "1.0")[1]
valid_sdist = make_sdist("fuzz", "1.0")[1]

contents = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"",
            valid_wheel,
            valid_sdist,
            valid_wheel[: len(valid_wheel) // 2],
            valid_sdist[:50],
            zip_bytes({}),
            zip_bytes({"fuzz-1.0.dist-info/METADATA": b"\xff\xfe not utf-8 \x00"}),
            zip_bytes({"fuzz-1.0.dist-info/METADATA": HUGE}),
            zip_bytes({"../../etc/passwd": b"x", "fuzz-1.0.dist-info/METADATA": b"Name: fuzz"}),
            zip_bytes({"/abs/METADATA": b"x", "fuzz-1.0.dist-info/../METADATA": b"x"}),
            zip_bytes({"a.dist-info/METADATA": b"", "b.dist-info/METADATA": b""}),
            zip_bytes({"fuzz-1.0/PKG-INFO": HUGE}),
            zip_bytes({"fuzz-1.0/PKG-INFO": b"Name: \x00\nVersion: \xff"}),
            tar_bytes({"../../../etc/PKG-INFO": b"Name: fuzz\nVersion: 1.0\n"}),
            tar_bytes({"/etc/PKG-INFO": b"Name: fuzz\n"}),
            tar_bytes({"fuzz-1.0/PKG-INFO": HUGE}),
            tar_bytes({"fuzz-1.0/PKG-INFO": b"\xff\xfe\x00garbage"}),
            tar_bytes({}, symlink="/etc/passwd"),
            tar_bytes({}, symlink="../../../../etc/passwd"),
            b"PK\x03\x04" + b"\x00" * 100,
            b"PK\x05\x06" + b"\x00" * 18,
            b"\x1f\x8b\x08\x00" + b"\x00" * 50,
        ]
    ),
    st.builds(
        _corrupt,
        st.sampled_from([valid_wheel, valid_sdist]),
        st.integers(min_value=0, max_value=10_000),
        st.binary(min_size=1, max_size=16),
    ),
)

filenames = st.one_of(
    st.sampled_from(
        [
            "fuzz-1.0-py3-none-any.whl",
            "fuzz-1.0.tar.gz",
            "fuzz-1.0.zip",
            "Fuzz-1.0.tar.gz",
            "fuzz-1.0-py3-none-any.whl.metadata",
            "../fuzz-1.0.tar.gz",
            "..\\fuzz-1.0.tar.gz",
            "/etc/fuzz-1.0.tar.gz",
            "C:\\fuzz-1.0.tar.gz",
            ".fuzz-1.0.tar.gz",
            "fuzz-1.0.tar.gz\x00.exe",
            "fuzz-1.0.tar.gz\n",
            "fuzz-1.0-py3-none-any.whl%2f",
            "fuzz-1.0-\u00e4-none-any.whl",
            "fuzz-1.0" + "-x" * 300 + ".tar.gz",
            "fuzz-1.0.doc.zip",
            "fuzz-2.0.tar.gz",
            "fuzz-1.0-0-py3-none-any.whl",
            "fuzz-1.0-py3-none-any.WHL",
            "",
        ]
    ),
    st.text(max_size=30),
)

field_values = st.one_of(
    st.sampled_from(["fuzz", "Fuzz", "1.0", "2.0", "", " ", "x" * 10_000, "../etc", "1.0\n"]),
    st.text(max_size=30),
    st.binary(max_size=20),
)
FORM_KEYS = [
    ":action",
    "name",
    "version",
    "summary",
    "description",
    "requires_python",
    "classifiers",
    "sha256_digest",
    "md5_digest",
    "blake2_256_digest",
    "metadata_version",
    "filetype",
    "pyversion",
    "protocol_version",
    "content",
]


@st.composite
def forms(draw):
    fields = []
    action = draw(st.sampled_from(["file_upload", "file_upload", "submit", "doc_upload", None, ""]))
    if action is not None:
        fields.append((":action", action))
    if draw(st.booleans()):
        fields.append(("name", "fuzz"))
    if draw(st.booleans()):
        fields.append(("version", "1.0"))
    extra = draw(
        st.lists(
            st.tuples(st.sampled_from(FORM_KEYS) | st.text(max_size=8), field_values), max_size=5
        )
    )
    fields.extend(extra)
    files = []
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        files.append(
            (
                draw(st.sampled_from(["content", "content", "other"])),
                draw(filenames),
                draw(contents),
            )
        )
    return fields, files


def multipart(fields, files, boundary: str = "fuzzboundary") -> bytes:
    parts = []
    for key, value in fields:
        raw_key = key.encode("utf-8", "surrogateescape")
        raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
        parts.append(
            b"--"
            + boundary.encode()
            + b'\r\nContent-Disposition: form-data; name="'
            + raw_key
            + b'"\r\n\r\n'
            + raw
            + b"\r\n"
        )
    for key, filename, data in files:
        parts.append(
            b"--"
            + boundary.encode()
            + b'\r\nContent-Disposition: form-data; name="'
            + key.encode()
            + b'"; filename="'
            + filename.encode("utf-8", "surrogateescape")
            + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
            + data
            + b"\r\n"
        )
    return b"".join(parts) + b"--" + boundary.encode() + b"--\r\n"


@FUZZ
@given(
    form=forms(),
    index=st.sampled_from(["root/dev", "root/prod", "root/pypi", "alice/none"]),
    user=st.sampled_from(["root", "root", "alice", None]),
    cut=st.one_of(st.none(), st.integers(min_value=0, max_value=5000)),
    accept=st.sampled_from([None, "*/*", "application/json"]),
)
def test_uploads(fuzzed, form, index, user, cut, accept):
    fields, files = form
    body = multipart(fields, files)
    if cut is not None:
        body = body[:cut]
    headers = {"Content-Type": "multipart/form-data; boundary=fuzzboundary"}
    if user is not None:
        headers.update(basic_auth(user, {"root": ROOT_PASSWORD, "alice": "alicepw"}[user]))
    if accept:
        headers["Accept"] = accept
    before = blobs(fuzzed)
    response = send(fuzzed, "POST", f"/{index}/", body, headers)
    check_answer(response, accepts_json=False, method="POST")
    if response.status_int >= 400:
        assert blobs(fuzzed) == before, response.status
        # The reason phrase carries the message (twine and devpi print it).
        assert response.status.split(" ", 1)[1].strip(), response.status
    if response.status_int == 401:
        assert response.headers["WWW-Authenticate"] == 'Basic realm="pypi"'
    uploaded = [(name, data) for key, name, data in files if key == "content"]
    if response.status_int == 200 and uploaded and cut is None:
        # What was accepted is stored byte for byte (the last content part counts).
        name, data = uploaded[-1]
        rows = stored_rows(fuzzed)
        if (index, name) in rows:
            assert rows[index, name] == hashlib.sha256(data).hexdigest()
    assert temporary_files(fuzzed) == []
    assert_no_dangling_rows(fuzzed)
    still_serving(fuzzed)


def stored_rows(shelf: Shelf) -> dict[tuple[str, str], str]:
    """(index, filename) -> sha256 of every hosted file."""
    from sqlalchemy import select

    from pyshelf_server.accounts.models import User
    from pyshelf_server.indexes.models import Index
    from pyshelf_server.packages.models import File

    with shelf.app.registry.pyshelf.database.reading() as session:
        query = (
            select(User.name, Index.name, File.filename, File.sha256, File.metadata_sha256)
            .join(Index, Index.user_id == User.id)
            .join(File, File.index_id == Index.id)
        )
        rows = session.execute(query).all()
    result = {}
    for user, index, filename, sha256, metadata_sha256 in rows:
        result[f"{user}/{index}", filename] = sha256
        if metadata_sha256:
            result[f"{user}/{index}", filename + ".metadata"] = metadata_sha256
    return result


def assert_no_dangling_rows(shelf: Shelf) -> None:
    """Nothing a user uploaded is lost: every stored file's bytes are in the store."""
    present = blobs(shelf)
    missing = {key: sha for key, sha in stored_rows(shelf).items() if sha not in present}
    assert not missing, missing


# -- the real server process ----------------------------------------------------------------


def raw_exchange(server, data: bytes, *, close_write: bool = True, timeout: float = 10) -> bytes:
    """Send ``data`` as it is on a new connection; what came back until the server closed
    it (or went quiet)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            if close_write:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server may close as soon as it has seen enough
            pass
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return received


def status_of(answer: bytes) -> int | None:
    if not answer.startswith(b"HTTP/1."):
        return None
    return int(answer.split(b" ", 2)[1])


def upload_body(boundary: str, filename: str, content: bytes) -> bytes:
    return (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nraw\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="version"\r\n\r\n1.0\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="{filename}"'
            "\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )


@pytest.mark.e2e
def test_malformed_http_against_the_real_server(make_live_server):
    server = make_live_server()
    server.create_index("root/dev")
    server.create_user("\u7528", "pw")
    server.create_index("\u7528/dev", auth=("\u7528", "pw"))
    files = server.serverdir / "files"

    def stored() -> list[str]:
        return sorted(str(p.relative_to(files)) for p in files.rglob("*") if p.is_file())

    before = stored()
    auth = "Authorization: Basic " + b64(f"root:{server.root_password}".encode()) + "\r\n"
    filename, content = make_wheel("raw", "1.0", description="x" * 50_000)
    boundary = "rawboundary"
    body = upload_body(boundary, filename, content)

    def get(path: bytes) -> bytes:
        return b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n"

    upload_head = (
        f"POST /root/dev/ HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
    )
    half = body[: len(body) // 2]
    requests = {
        # A body cut in the middle of the file part, with a Content-Length that matches.
        "cut multipart": (upload_head + f"Content-Length: {len(half)}\r\n\r\n").encode() + half,
        # A Content-Length that promises more than ever comes.
        "lying length": (upload_head + f"Content-Length: {len(body) + 5000}\r\n\r\n").encode()
        + body,
        # One that promises less: the rest arrives as a garbage request.
        "short length": (upload_head + "Content-Length: 100\r\n\r\n").encode() + body,
        "bad chunk size": (
            upload_head + "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
        ).encode(),
        "chunks cut off": (upload_head + "Transfer-Encoding: chunked\r\n\r\n").encode()
        + f"{len(body):x}\r\n".encode()
        + half,
        "chunk longer than said": (upload_head + "Transfer-Encoding: chunked\r\n\r\n").encode()
        + b"5\r\n"
        + body[:500]
        + b"\r\n0\r\n\r\n",
        "negative length": (upload_head + "Content-Length: -5\r\n\r\n").encode() + body,
        "length not a number": (upload_head + "Content-Length: lots\r\n\r\n").encode() + body,
        "two lengths": (
            upload_head + f"Content-Length: {len(body)}\r\nContent-Length: 10\r\n\r\n"
        ).encode()
        + body,
        "long header line": b"GET /+api HTTP/1.1\r\nHost: x\r\nX-Long: "
        + b"a" * 300_000
        + b"\r\n\r\n",
        "many headers": b"GET /+api HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H%d: v\r\n" % i for i in range(5000))
        + b"\r\n",
        "non-ascii path": get("/r\u00e4/d\u00e9v/+simple/p\u00e4ckage/".encode()),
        "latin-1 path": get(b"/root/dev/\xe4\xff/"),
        "nul in path": get(b"/root/dev/a\x00b"),
        "encoded nul": get(b"/root/%00/+api"),
        "cjk redirect": get(b"/%E7%94%A8/dev/Pkg_Name?x=1"),
        "traversal": b"GET /root/dev/+f/../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        "encoded traversal": b"GET /root/dev/+e/%2e%2e/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\n"
        b"Host: x\r\n\r\n",
        "garbage request line": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 100,
        "no version": b"GET /+api\r\n\r\n",
        "header without colon": b"GET /+api HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
        "bad auth": b"GET /+api HTTP/1.1\r\nHost: x\r\nAuthorization: Basic \xff\xfe\r\n"
        b"X-Devpi-Auth: \xff\r\nAccept: application/json\r\n\r\n",
    }
    for name, data in requests.items():
        answer = raw_exchange(server, data)
        status = status_of(answer)
        if name == "cjk redirect":
            assert status == 302
            assert b"\r\nLocation: http://x/%E7%94%A8/dev/pkg-name?x=1\r\n" in answer
        assert status is None or status < 500, (name, answer[:300])
        assert server.process.poll() is None, name
        assert httpx.get(server.url + "/+api", timeout=10).status_code == 200, name
    # Nothing of the broken uploads stayed: no blob, no temporary file, no project.
    assert stored() == before
    assert server.request("GET", "/root/dev").json()["result"]["projects"] == []
    # A connection left hanging mid-body does not block others.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as hanging:
        hanging.sendall((upload_head + f"Content-Length: {len(body)}\r\n\r\n").encode() + half)
        assert httpx.get(server.url + "/+api", timeout=10).status_code == 200
    # The server still takes a whole upload, chunked too.
    chunked = b"".join(
        b"%x\r\n" % len(piece) + piece + b"\r\n"
        for piece in (body[i : i + 7000] for i in range(0, len(body), 7000))
    )
    answer = raw_exchange(
        server,
        (upload_head + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
        + chunked
        + b"0\r\n\r\n",
    )
    assert status_of(answer) == 200, answer[:300]
    assert server.request("GET", "/root/dev").json()["result"]["projects"] == ["raw"]
