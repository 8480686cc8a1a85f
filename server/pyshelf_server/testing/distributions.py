"""Small but valid distributions and attestations, built in memory."""

from __future__ import annotations

import base64
import json
from typing import Any


def _metadata(
    name: str,
    version: str,
    *,
    summary: str = "",
    requires_python: str | None = None,
    description: str = "",
    requires_dist: list[str] = (),
    extra: dict[str, str] | None = None,
    description_content_type: str = "text/markdown",
) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if summary:
        lines.append(f"Summary: {summary}")
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    for requirement in requires_dist:
        lines.append(f"Requires-Dist: {requirement}")
    for key, value in (extra or {}).items():
        lines.append(f"{key}: {value}")
    lines.append(f"Description-Content-Type: {description_content_type}")
    return "\n".join(lines) + "\n\n" + description + "\n"


def make_wheel(name: str, version: str, **meta: Any) -> tuple[str, bytes]:
    """A small but valid pure-Python wheel: (filename, bytes)."""
    import io
    import zipfile

    from packaging.utils import canonicalize_name

    dist = canonicalize_name(name).replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}/__init__.py": f"__version__ = {version!r}\n",
        f"{info}/METADATA": _metadata(name, version, **meta),
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: pyshelf-tests\nRoot-Is-Purelib: true\n"
            "Tag: py3-none-any\n"
        ),
    }
    record = "".join(f"{path},,\n" for path in files) + f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, text in files.items():
            wheel.writestr(path, text)
    return f"{dist}-{version}-py3-none-any.whl", buffer.getvalue()


def make_sdist(name: str, version: str, **meta: Any) -> tuple[str, bytes]:
    """A small sdist with PKG-INFO: (filename, bytes)."""
    import io
    import tarfile

    from packaging.utils import canonicalize_name

    dist = canonicalize_name(name).replace("-", "_")
    base = f"{dist}-{version}"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, text in {
            f"{base}/PKG-INFO": _metadata(name, version, **meta),
            f"{base}/setup.py": "from setuptools import setup\nsetup()\n",
        }.items():
            data = text.encode()
            member = tarfile.TarInfo(path)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return f"{base}.tar.gz", buffer.getvalue()


def make_attestation(
    filename: str,
    content: bytes,
    *,
    predicate_type: str = "https://docs.pypi.org/attestations/publish/v1",
) -> dict[str, Any]:
    """A PEP 740 attestation object of the right shape about ``filename`` with ``content``;
    its certificate and signature are placeholders (no Sigstore is reachable in tests)."""
    import hashlib

    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": filename, "digest": {"sha256": hashlib.sha256(content).hexdigest()}}],
        "predicateType": predicate_type,
        "predicate": None,
    }
    return {
        "version": 1,
        "verification_material": {
            "certificate": base64.b64encode(b"test certificate").decode(),
            "transparency_entries": [{"logIndex": "1"}],
        },
        "envelope": {
            "statement": base64.b64encode(json.dumps(statement).encode()).decode(),
            "signature": base64.b64encode(b"test signature").decode(),
        },
    }
