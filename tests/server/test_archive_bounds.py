"""Release files with more members than any real one (member-count bombs) are refused with 400
before their listing grows in memory: in-process with the bound lowered, and at the real bound
through a server process."""

from __future__ import annotations

import io
import os
import tarfile
import time
import zipfile

import pytest

from pyshelf_server import limits
from pyshelf_server.packages.metadata import ArchiveOverLimit, from_file, wheel_metadata
from pyshelf_server.testing import make_wheel

PKG_INFO = b"Metadata-Version: 2.1\nName: bomb\nVersion: 1.0\n"


def tar_bomb(members: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("bomb-1.0/PKG-INFO")
        info.size = len(PKG_INFO)
        tar.addfile(info, io.BytesIO(PKG_INFO))
        empty = tarfile.TarInfo()
        for n in range(members - 1):
            empty.name = f"bomb-1.0/{n}"
            tar.addfile(empty)
    return buffer.getvalue()


def zip_bomb(members: int, *, wheel: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bomb-1.0.dist-info/METADATA" if wheel else "bomb-1.0/PKG-INFO", PKG_INFO)
        for n in range(members - 1):
            archive.writestr(str(n), b"")
    return buffer.getvalue()


@pytest.fixture
def ten_members(monkeypatch):
    monkeypatch.setattr(limits, "MAX_ARCHIVE_MEMBERS", 10)


def test_archives_at_the_bound_are_read(ten_members):
    assert from_file(tar_bomb(10), "bomb-1.0.tar.gz")["name"] == "bomb"
    assert from_file(zip_bomb(10, wheel=False), "bomb-1.0.zip")["name"] == "bomb"
    assert wheel_metadata(zip_bomb(10), "bomb-1.0-py3-none-any.whl") == PKG_INFO


@pytest.mark.parametrize(
    "content, filename",
    [(lambda: tar_bomb(11), "bomb-1.0.tar.gz"),
     (lambda: zip_bomb(11, wheel=False), "bomb-1.0.zip"),
     (lambda: zip_bomb(11), "bomb-1.0-py3-none-any.whl")],
)
def test_archives_over_the_bound_are_refused(ten_members, tmp_path, content, filename):
    path = tmp_path / filename
    path.write_bytes(content())
    for source in (path, path.read_bytes()):
        with pytest.raises(ArchiveOverLimit, match="more than the allowed 10 members"):
            from_file(source, filename)


def test_a_zip_whose_end_record_lies_is_counted_after_opening(ten_members):
    content = bytearray(zip_bomb(11))
    end = content.rfind(b"PK\x05\x06")
    content[end + 8 : end + 12] = (1).to_bytes(2, "little") * 2
    with pytest.raises(ArchiveOverLimit, match="more than the allowed 10 members"):
        wheel_metadata(bytes(content), "bomb-1.0-py3-none-any.whl")


def test_a_tar_that_unpacks_too_far_is_refused(monkeypatch):
    monkeypatch.setattr(limits, "MAX_TAR_UNPACKED_BYTES", 100_000)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("bomb-1.0/zeros")
        info.size = 200_000
        tar.addfile(info, io.BytesIO(b"\0" * info.size))
    with pytest.raises(ArchiveOverLimit, match="more than the allowed 100000 bytes"):
        from_file(buffer.getvalue(), "bomb-1.0.tar.gz")


def test_the_upload_form_refuses_a_bomb_with_400(shelf, ten_members):
    shelf.create_index("root/dev")
    response = shelf.upload("root/dev", "bomb-1.0.tar.gz", tar_bomb(11), name="bomb",
                            version="1.0", status=400)
    assert "more than the allowed 10 members" in response.status
    response = shelf.upload("root/dev", "bomb-1.0-py3-none-any.whl", zip_bomb(11), name="bomb",
                            version="1.0", status=400)
    assert "more than the allowed 10 members" in response.status
    assert shelf.json("GET", "/root/dev").json["result"]["projects"] == []
    filename, content = make_wheel("fine", "1.0")
    shelf.upload("root/dev", filename, content, name="fine", version="1.0")


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
def test_real_size_bombs_are_refused_quickly_by_a_server(make_live_server, tmp_path):
    server = make_live_server()
    server.create_index("root/dev")
    bombs = {
        "bomb-1.0-py3-none-any.whl": zip_bomb(limits.MAX_ARCHIVE_MEMBERS + 1),
        "bomb-1.0.tar.gz": tar_bomb(limits.MAX_ARCHIVE_MEMBERS + 1),
    }
    before = _rss_kb(server.process.pid)
    for filename, content in bombs.items():
        path = tmp_path / filename
        path.write_bytes(content)
        started = time.monotonic()
        response = server.upload("root/dev", path, name="bomb", version="1.0")
        took = time.monotonic() - started
        assert response.status_code == 400, response.text
        assert f"more than the allowed {limits.MAX_ARCHIVE_MEMBERS} members" in response.text
        assert took < 15, took
    # Loose: a million members took the process from tens to hundreds of MB; at the bound the
    # tar's headers cost a few tens of MB at most.
    grown_mb = (_rss_kb(server.process.pid) - before) / 1024
    assert grown_mb < 150, grown_mb
    assert server.request("GET", "/root/dev").json()["result"]["projects"] == []
