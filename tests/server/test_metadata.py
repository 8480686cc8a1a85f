"""Reading core metadata out of release archives without unpacking them."""

import io
import tarfile
import zipfile

import pytest

from pyshelf_server.packages.metadata import (
    MAX_METADATA_BYTES,
    MetadataError,
    MetadataTooLarge,
    from_file,
)

TOP = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nSummary: top level\n"
NESTED = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nSummary: from egg-info\n"


def _tar(path, members):
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


@pytest.mark.parametrize("suffix, write", [(".tar.gz", _tar), (".zip", _zip)])
def test_sdist_metadata_is_the_shallowest_pkg_info(tmp_path, suffix, write):
    path = tmp_path / "blob"
    write(
        path,
        {
            "demo-1.0/src/demo.egg-info/PKG-INFO": NESTED,
            "demo-1.0/setup.py": b"",
            # No Metadata-Version: not a metadata file, whatever its name.
            "PKG-INFO": b"just notes",
            "demo-1.0/PKG-INFO": TOP,
        },
    )
    meta = from_file(path, "demo-1.0" + suffix)
    assert meta["summary"] == "top level"
    assert meta["name"] == "demo"


def test_sdist_without_pkg_info_is_a_metadata_error(tmp_path):
    path = tmp_path / "blob"
    _tar(path, {"demo-1.0/setup.py": b""})
    with pytest.raises(MetadataError, match="no PKG-INFO"):
        from_file(path, "demo-1.0.tar.gz")


def test_oversized_pkg_info_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "blob"
    _tar(path, {"demo-1.0/PKG-INFO": b"x" * (MAX_METADATA_BYTES + 1)})
    with pytest.raises(MetadataTooLarge):
        from_file(path, "demo-1.0.tar.gz")


def test_wheel_metadata_comes_from_dist_info(tmp_path):
    path = tmp_path / "blob"
    _zip(path, {"demo-1.0.dist-info/METADATA": TOP, "demo/__init__.py": b""})
    assert from_file(path, "demo-1.0-py3-none-any.whl")["summary"] == "top level"


def test_garbage_is_a_metadata_error(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"not an archive at all")
    with pytest.raises(MetadataError):
        from_file(path, "demo-1.0.tar.gz")
