"""Writes that race each other through a real server process, on whichever database the suite
runs (``--db=sqlite`` or ``--db=postgresql``): each answers as if it ran alone — 409 for the
loser of a create, no update lost, no cycle of bases — and never a 500."""

from __future__ import annotations

import itertools
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from pyshelf_server.testing import LiveServer, basic_auth, make_wheel

pytestmark = pytest.mark.e2e

RACERS = 20
_names = itertools.count()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    live = LiveServer(tmp_path_factory.mktemp("races") / "server").start()
    yield live
    live.stop()


def unique(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


def race(calls: list[Any]) -> list[httpx.Response]:
    """Run the calls at once (one thread each) and return their answers in order."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def statuses(responses: list[httpx.Response]) -> Counter[int]:
    return Counter(response.status_code for response in responses)


def test_concurrent_creates_of_one_user_make_it_once(server: LiveServer) -> None:
    name = unique("racer")
    answers = race(
        [lambda: server.request("PUT", f"/{name}", json={"password": "pw"})] * RACERS
    )
    assert statuses(answers) == {201: 1, 409: RACERS - 1}, [a.text for a in answers]


def test_concurrent_creates_of_one_index_make_it_once(server: LiveServer) -> None:
    name = unique("root/race")
    answers = race([lambda: server.request("PUT", f"/{name}", json={})] * RACERS)
    assert statuses(answers) == {200: 1, 409: RACERS - 1}, [a.text for a in answers]


def test_concurrent_acl_additions_are_all_kept(server: LiveServer) -> None:
    index = unique("root/acl")
    server.create_index(index)
    users = [unique("acluser") for _ in range(RACERS)]
    answers = race(
        [
            lambda user=user: server.request("PATCH", f"/{index}", json=[f"acl_upload+={user}"])
            for user in users
        ]
    )
    assert statuses(answers) == {200: RACERS}, [a.text for a in answers]
    config = server.request("GET", f"/{index}").json()["result"]
    assert sorted(config["acl_upload"]) == sorted(["root", *users])


def test_opposite_bases_changes_never_make_a_cycle(server: LiveServer) -> None:
    for _ in range(10):
        a, b = unique("root/cyc"), unique("root/cyc")
        server.create_index(a)
        server.create_index(b)
        answers = race(
            [
                lambda a=a, b=b: server.request("PATCH", f"/{a}", json=[f"bases={b}"]),
                lambda a=a, b=b: server.request("PATCH", f"/{b}", json=[f"bases={a}"]),
            ]
        )
        assert sorted(r.status_code for r in answers) == [200, 400], [r.text for r in answers]
        refused = next(r for r in answers if r.status_code == 400)
        assert "cycle" in refused.json()["message"]
        bases_a = server.request("GET", f"/{a}").json()["result"]["bases"]
        bases_b = server.request("GET", f"/{b}").json()["result"]["bases"]
        assert not (bases_a == [b] and bases_b == [a])


def test_one_file_uploaded_at_once_to_a_non_volatile_index(server: LiveServer) -> None:
    index = unique("root/prod")
    server.create_index(index, volatile=False)
    filename, content = make_wheel("racepkg", "1.0")
    _, other = make_wheel("racepkg", "1.0", summary="different bytes, same name")

    def upload(body: bytes) -> httpx.Response:
        return httpx.post(
            f"{server.url}/{index}/",
            data={":action": "file_upload", "name": "racepkg", "version": "1.0"},
            files={"content": (filename, body)},
            headers=basic_auth("root", server.root_password),
            timeout=60,
        )

    answers = race([lambda i=i: upload(content if i % 2 else other) for i in range(RACERS)])
    counts = statuses(answers)
    assert set(counts) <= {200, 409}, [a.text for a in answers]
    # Whichever body won, every upload of it answered 200 (the first stored it, the others
    # were identical) and every upload of the other body 409.
    assert counts[200] == RACERS // 2 and counts[409] == RACERS // 2
    listing = server.request("GET", f"/{index}/racepkg").json()["result"]["1.0"]["+links"]
    assert [link["href"].rpartition("/")[2] for link in listing] == [filename]


def test_one_file_uploaded_at_once_to_a_volatile_index(server: LiveServer) -> None:
    """Each upload replaces the one before it: every one answers 200, and one file remains,
    with the bytes of one of them."""
    index = unique("root/volatile")
    server.create_index(index, volatile=True)
    bodies = [make_wheel("overwritten", "1.0", summary=f"body {i}") for i in range(RACERS)]
    filename = bodies[0][0]

    def upload(body: bytes) -> httpx.Response:
        return httpx.post(
            f"{server.url}/{index}/",
            data={":action": "file_upload", "name": "overwritten", "version": "1.0"},
            files={"content": (filename, body)},
            headers=basic_auth("root", server.root_password),
            timeout=60,
        )

    answers = race([lambda body=body: upload(body) for _, body in bodies])
    assert statuses(answers) == {200: RACERS}, [a.text for a in answers]
    listing = server.request("GET", f"/{index}/overwritten").json()["result"]["1.0"]["+links"]
    assert len(listing) == 1
    served = httpx.get(listing[0]["href"], timeout=60).content
    assert served in {body for _, body in bodies}


def test_new_files_of_one_new_project_uploaded_at_once_are_all_kept(server: LiveServer) -> None:
    """The first upload creates the project, the others find it: none collides."""
    index = unique("root/fresh")
    server.create_index(index)
    wheels = [make_wheel("newproject", f"1.{i}") for i in range(RACERS)]

    def upload(filename: str, body: bytes, version: str) -> httpx.Response:
        return httpx.post(
            f"{server.url}/{index}/",
            data={":action": "file_upload", "name": "newproject", "version": version},
            files={"content": (filename, body)},
            headers=basic_auth("root", server.root_password),
            timeout=60,
        )

    answers = race(
        [
            lambda i=i, wheel=wheel: upload(wheel[0], wheel[1], f"1.{i}")
            for i, wheel in enumerate(wheels)
        ]
    )
    assert statuses(answers) == {200: RACERS}, [a.text for a in answers]
    serials = sorted(int(a.headers["X-Devpi-Serial"]) for a in answers)
    # One write transaction each, one after the other.
    assert serials == list(range(serials[0], serials[0] + RACERS))
    versions = server.request("GET", f"/{index}/newproject").json()["result"]
    assert sorted(versions) == sorted(f"1.{i}" for i in range(RACERS))
