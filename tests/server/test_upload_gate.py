"""The gate that lets a limited number of uploads be worked on at once (upload/gate.py)."""

import threading

from pyshelf_server.upload.gate import UploadGate

UPLOAD = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "multipart/form-data; boundary=x"}
PAGE = {"REQUEST_METHOD": "GET"}


class BlockingApp:
    """Counts the requests inside it and holds each until released."""

    def __init__(self):
        self.inside = 0
        self.most_inside = 0
        self.lock = threading.Lock()
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()

    def __call__(self, environ, start_response):
        with self.lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        self.entered.release()
        self.release.wait(10)
        with self.lock:
            self.inside -= 1
        start_response("200 OK", [])
        return [b"done"]


def call(app, environ, answers):
    answers.append(b"".join(app(dict(environ), lambda status, headers: None)))


def test_uploads_beyond_the_limit_wait_and_other_requests_do_not():
    inner = BlockingApp()
    gate = UploadGate(inner, limit=2)
    answers = []
    uploads = [threading.Thread(target=call, args=(gate, UPLOAD, answers)) for _ in range(4)]
    for thread in uploads:
        thread.start()
    assert inner.entered.acquire(timeout=5) and inner.entered.acquire(timeout=5)
    # Two are inside; the other two wait at the gate while a page request walks in.
    assert not inner.entered.acquire(timeout=0.3)
    page = threading.Thread(target=call, args=(gate, PAGE, answers))
    page.start()
    assert inner.entered.acquire(timeout=5)
    inner.release.set()
    for thread in [*uploads, page]:
        thread.join(10)
    assert answers == [b"done"] * 5
    assert inner.most_inside == 3  # two uploads and the page


def test_no_limit_lets_every_upload_in():
    inner = BlockingApp()
    gate = UploadGate(inner, limit=0)
    answers = []
    uploads = [threading.Thread(target=call, args=(gate, UPLOAD, answers)) for _ in range(4)]
    for thread in uploads:
        thread.start()
    for _ in range(4):
        assert inner.entered.acquire(timeout=5)
    inner.release.set()
    for thread in uploads:
        thread.join(10)
    assert inner.most_inside == 4


def test_a_failing_upload_gives_its_place_back():
    calls = []

    def failing_three_times(environ, start_response):
        calls.append(1)
        if len(calls) <= 3:
            raise RuntimeError("boom")
        start_response("200 OK", [])
        return [b"done"]

    gate = UploadGate(failing_three_times, limit=1)
    for _ in range(3):
        try:
            gate(dict(UPLOAD), lambda status, headers: None)
        except RuntimeError:
            pass
        else:
            raise AssertionError("the error was swallowed")
    answers = []
    thread = threading.Thread(target=call, args=(gate, UPLOAD, answers))
    thread.start()
    thread.join(5)
    assert answers == [b"done"]
