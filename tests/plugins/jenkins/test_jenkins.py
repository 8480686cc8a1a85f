"""The jenkins plugin against a real server process and a local HTTP listener standing in
for Jenkins: the trigger's form, what triggers and what does not, option checks, and uploads
unaffected by a slow or missing Jenkins."""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pyshelf_server.testing import free_port, make_wheel

FAST_RETRIES = ["--jenkins-retries", "2", "--jenkins-backoff", "0.05", "--jenkins-timeout", "5"]


class Listener:
    """A stand-in Jenkins on loopback: records each POST; ``hold`` keeps answers back."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.hold = threading.Event()
        self.hold.set()
        self.arrived = threading.Condition()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                    b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body
                )
                fields = {part.get_param("name", header="content-disposition"):
                          part.get_content() for part in message.iter_parts()}  # fmt: skip
                with listener.arrived:
                    listener.received.append(
                        {"path": self.path, "agent": self.headers["User-Agent"], "fields": fields}
                    )
                    listener.arrived.notify_all()
                listener.hold.wait(30)
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, count: int, timeout: float = 30) -> list[dict]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout), (
                f"{len(self.received)} triggers arrived, expected {count}"
            )
            return list(self.received)

    def stop(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener():
    jenkins = Listener()
    yield jenkins
    jenkins.stop()


def upload(server, fullname, tmp_path, name, version, auth=("root", None)):
    filename, content = make_wheel(name, version)
    (tmp_path / filename).write_bytes(content)
    return server.upload(fullname, tmp_path / filename, name=name, version=version, auth=auth)


def status(server):
    return server.request("GET", "/+status").json()["result"]["jenkins_triggers"]


def wait_for_status(server, key, value, timeout=30):
    deadline = time.monotonic() + timeout
    while status(server)[key] != value:
        assert time.monotonic() < deadline, status(server)
        time.sleep(0.05)


def test_an_upload_posts_devpi_jenkins_form_to_the_formatted_url(make_live_server, listener,
                                                                 tmp_path):  # fmt: skip
    server = make_live_server(plugins=["jenkins"])
    config = server.create_index("root/dev")
    assert config["uploadtrigger_jenkins"] is None
    server.create_index(
        "root/ci",
        uploadtrigger_jenkins=listener.url + "/job/{pkgname}/buildWithParameters?ver={pkgversion}",
    )
    response = upload(server, "root/ci", tmp_path, "Jenkins_Pkg.Name", "1.0")
    assert response.status_code == 200
    assert "trigger" not in response.reason_phrase
    (trigger,) = listener.wait_for(1)
    assert trigger["path"] == "/job/jenkins-pkg-name/buildWithParameters?ver=1.0"
    assert trigger["agent"].startswith("pyshelf-jenkins/")
    fields = trigger["fields"]
    assert fields["Submit"] == "Build"
    assert fields["name"] == "jobscript.py"
    assert json.loads(fields["json"]) == {"parameter": {"name": "jobscript.py", "file": "file0"}}
    script = fields["file0"]
    script = script.decode() if isinstance(script, bytes) else script
    assert f"INDEX_URL = '{server.url}/root/ci'" in script
    assert f"SIMPLE_URL = '{server.url}/root/ci/+simple/'" in script
    assert "REQUIREMENT = 'jenkins-pkg-name==1.0'" in script
    compile(script, "jobscript.py", "exec")
    wait_for_status(server, "sent", 1)

    # Docs, pushes and indexes without the option trigger nothing.
    docs = server.request(
        "POST",
        "/root/ci/",
        data={":action": "doc_upload", "name": "jenkins-pkg-name", "version": "1.0"},
        files={"content": ("d.zip", _docs_zip())},
        headers={"Accept": "*/*"},
    )
    assert docs.status_code == 200, docs.text
    server.create_index("root/ci2", uploadtrigger_jenkins=listener.url + "/job/push")
    push = server.request("POST", "/root/ci", json={"name": "jenkins-pkg-name", "version": "1.0",
                          "targetindex": "root/ci2"})  # fmt: skip
    assert push.status_code == 200, push.text
    assert upload(server, "root/dev", tmp_path, "quiet", "1.0").status_code == 200
    upload(server, "root/ci", tmp_path, "second", "2.0")
    received = listener.wait_for(2)
    assert [t["path"] for t in received] == [
        "/job/jenkins-pkg-name/buildWithParameters?ver=1.0",
        "/job/second/buildWithParameters?ver=2.0",
    ]


def _docs_zip() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", "<p>docs</p>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ftp://jenkins.example/job", "must be an http or https URL"),
        ("jenkins.example/job", "must be an http or https URL"),
        ("http://jenkins.example/{project}", "not {project}"),
        ("http://jenkins.example/{pkgname", "not a valid URL template"),
    ],
)
def test_bad_trigger_urls_are_refused(make_live_server, value, message):
    server = make_live_server(plugins=["jenkins"])
    response = server.request("PUT", "/root/bad", json={"uploadtrigger_jenkins": value})
    assert response.status_code == 400
    assert message in response.json()["message"]
    server.create_index("root/ok")
    patch = server.request("PATCH", "/root/ok", json=[f"uploadtrigger_jenkins={value}"])
    assert patch.status_code == 400


def test_only_who_may_modify_the_index_sets_the_option(make_live_server, listener):
    server = make_live_server(plugins=["jenkins"])
    server.create_user("alice", "alice-pw")
    server.create_user("mallory", "mallory-pw")
    server.create_index("alice/dev", auth=("alice", "alice-pw"))
    setting = [f"uploadtrigger_jenkins={listener.url}/job/x"]
    refused = server.request("PATCH", "/alice/dev", json=setting, auth=("mallory", "mallory-pw"))
    assert refused.status_code == 403
    allowed = server.request("PATCH", "/alice/dev", json=setting, auth=("alice", "alice-pw"))
    assert allowed.status_code == 200
    assert allowed.json()["result"]["uploadtrigger_jenkins"] == f"{listener.url}/job/x"


def test_a_slow_jenkins_does_not_delay_the_upload(make_live_server, listener, tmp_path):
    server = make_live_server(plugins=["jenkins"], args=FAST_RETRIES)
    server.create_index("root/ci", uploadtrigger_jenkins=listener.url + "/job/{pkgname}")
    listener.hold.clear()  # Jenkins takes the POST and does not answer until released
    first = upload(server, "root/ci", tmp_path, "slow-one", "1.0")
    assert first.status_code == 200
    listener.wait_for(1)
    # While Jenkins still holds the first trigger, further uploads answer at once.
    second = upload(server, "root/ci", tmp_path, "slow-two", "1.0")
    assert second.status_code == 200 and "trigger" not in second.reason_phrase
    assert status(server)["pending"] == 2
    listener.hold.set()
    wait_for_status(server, "sent", 2)
    assert [t["path"] for t in listener.received] == ["/job/slow-one", "/job/slow-two"]


def test_a_down_jenkins_fails_no_upload_and_is_counted(make_live_server, tmp_path):
    down = f"http://127.0.0.1:{free_port()}"
    server = make_live_server(plugins=["jenkins"], args=FAST_RETRIES)
    server.create_index("root/ci", uploadtrigger_jenkins=down + "/job/{pkgname}")
    response = upload(server, "root/ci", tmp_path, "nobody-listens", "1.0")
    assert response.status_code == 200
    assert response.reason_phrase == "OK"
    wait_for_status(server, "failed", 1)
    counts = status(server)
    assert counts["retried"] == 2 and counts["sent"] == 0 and counts["pending"] == 0
    assert counts["last_error"].startswith(down + "/job/nobody-listens: ConnectError")


def test_unsent_triggers_are_logged_as_dropped_at_stop(make_live_server, listener, tmp_path):
    server = make_live_server(plugins=["jenkins"],
                              args=[*FAST_RETRIES, "--jenkins-stop-wait", "0.5"])  # fmt: skip
    server.create_index("root/ci", uploadtrigger_jenkins=listener.url + "/job/{pkgname}")
    listener.hold.clear()
    for name in ("held", "queued-a", "queued-b"):
        assert upload(server, "root/ci", tmp_path, name, "1.0").status_code == 200
    listener.wait_for(1)
    server.stop()
    log = server.log_path.read_text()
    assert "jenkins trigger for root/ci queued-a==1.0 dropped at stop" in log
    assert "jenkins trigger for root/ci queued-b==1.0 dropped at stop" in log
    assert "held==1.0 still unanswered at stop" in log
