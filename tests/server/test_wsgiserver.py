"""The waitress server pyshelf runs in sends a small answer in one piece."""

import http.client
import threading

import pytest
from waitress.channel import HTTPChannel

from pyshelf_server.wsgiserver import SEND_BUFFER_BYTES, make_server

BIG = bytes(range(256)) * (3 * SEND_BUFFER_BYTES // 256)
# Over waitress's own limit for answers kept in memory (1 MiB).
PAGE_SIZED = bytes(range(256)) * (3 * 1024 * 1024 // 256)


def app(environ, start_response):
    body = {"/big": BIG, "/page": PAGE_SIZED}.get(environ["PATH_INFO"], b"small answer")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    # Two writes, as a streaming application makes them.
    return [body[:5], body[5:]]


@pytest.fixture
def served(monkeypatch):
    sends = []
    plain_send = HTTPChannel.send

    def counted_send(channel, data, do_close=True):
        sends.append(len(data))
        return plain_send(channel, data, do_close=do_close)

    monkeypatch.setattr(HTTPChannel, "send", counted_send)
    server = make_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield server, sends
    server.close()
    thread.join(timeout=5)


def test_a_small_answer_leaves_in_one_send(served):
    server, sends = served
    connection = http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=10)
    for _ in range(5):
        connection.request("GET", "/small")
        response = connection.getresponse()
        assert response.status == 200
        assert response.read() == b"small answer"
    connection.close()
    # Status line, headers and both body writes: one send per answer (waitress alone: three).
    assert len(sends) == 5


def test_a_large_answer_still_arrives_whole(served):
    server, _ = served
    connection = http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=10)
    connection.request("GET", "/big")
    response = connection.getresponse()
    assert response.read() == BIG
    connection.close()


def test_a_page_sized_answer_is_not_spilled_to_a_temporary_file(served, monkeypatch):
    from waitress.buffers import TempfileBasedBuffer

    spilled = []
    plain_newfile = TempfileBasedBuffer.newfile

    def newfile(buffer):
        spilled.append(True)
        return plain_newfile(buffer)

    monkeypatch.setattr(TempfileBasedBuffer, "newfile", newfile)
    server, _ = served
    connection = http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=10)
    connection.request("GET", "/page")
    assert connection.getresponse().read() == PAGE_SIZED
    connection.close()
    assert spilled == []


def test_concurrent_answers_all_arrive(served):
    server, _ = served
    results = []

    def fetch():
        connection = http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=10)
        for path in ("/small", "/big", "/small"):
            connection.request("GET", path)
            results.append((path, connection.getresponse().read()))
        connection.close()

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 24
    assert all(body == (BIG if path == "/big" else b"small answer") for path, body in results)
