"""Finding, building and describing the files ``pyshelf upload`` sends.

Everything here works on the local file system only, so it is tested without a server:
building goes through the standard ``build`` frontend, metadata is read with ``pkginfo``
and documentation is zipped as ``{name}-{version}.doc.zip``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pkginfo
from packaging.utils import canonicalize_name

from .errors import ClientError, UsageError

# The metadata fields sent with a release file, in the order devpi-client sends them.
METADATA_FIELDS = (
    "metadata_version",
    "name",
    "version",
    "summary",
    "description",
    "keywords",
    "home_page",
    "author",
    "author_email",
    "maintainer",
    "maintainer_email",
    "license",
    "classifiers",
    "download_url",
    "requires",
    "provides",
    "obsoletes",
    "requires_python",
    "requires_external",
    "requires_dist",
    "provides_dist",
    "obsoletes_dist",
    "project_urls",
    "provides_extras",
    "description_content_type",
    "dynamic",
    "license_expression",
    "license_file",
    "platforms",
    "supported_platforms",
)
RELEASE_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz")
DOC_SUFFIX = ".doc.zip"
FORMATS = ("sdist", "wheel")
DOCS_DIRS = ("docs", "doc", "source")


@dataclass
class UploadFile:
    path: Path
    name: str
    version: str
    is_doc: bool = False
    filetype: str = ""
    pyversion: str = ""
    metadata: dict[str, str | list[str]] = field(default_factory=dict)

    @property
    def basename(self) -> str:
        return self.path.name

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def sha256(self) -> str:
        digest = hashlib.sha256()
        with self.path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 16), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def form_fields(self) -> dict[str, str | list[str]]:
        """The multipart fields of the legacy upload protocol, ``content`` excluded."""
        if self.is_doc:
            return {
                "name": self.name,
                "version": self.version,
                ":action": "doc_upload",
                "protocol_version": "1",
            }
        fields = dict(self.metadata)
        fields["pyversion"] = self.pyversion
        fields["filetype"] = self.filetype
        fields[":action"] = "file_upload"
        fields["protocol_version"] = "1"
        fields["sha256_digest"] = self.sha256()
        return fields


def parse_formats(text: str | None) -> set[str]:
    if not text:
        return set(FORMATS)
    aliases = {"bdist_wheel": "wheel", "whl": "wheel", "source": "sdist"}
    result = set()
    for item in text.split(","):
        item = aliases.get(item.strip(), item.strip())
        if item not in FORMATS:
            raise UsageError(f"unknown format {item!r}: use sdist, wheel or sdist,wheel")
        result.add(item)
    return result


def is_doczip(path: Path) -> bool:
    return path.name.endswith(DOC_SUFFIX)


def is_release(path: Path) -> bool:
    return not is_doczip(path) and path.name.endswith(RELEASE_SUFFIXES)


def release_format(path: Path) -> str:
    return "wheel" if path.name.endswith(".whl") else "sdist"


def find_archives(directory: Path) -> list[Path]:
    """Every release archive and doc zip below *directory*, sorted by path."""
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory")
    found = [p for p in directory.rglob("*") if p.is_file() and (is_release(p) or is_doczip(p))]
    return sorted(found)


def describe(path: Path) -> UploadFile:
    """Read what the server needs to know about a release file or doc zip."""
    if is_doczip(path):
        stem = path.name[: -len(DOC_SUFFIX)]
        name, sep, version = stem.rpartition("-")
        if not sep or not name or not version:
            raise UsageError(f"{path.name}: a doc zip must be named NAME-VERSION{DOC_SUFFIX}")
        return UploadFile(path=path, name=name, version=version, is_doc=True)
    if not is_release(path):
        raise UsageError(f"{path}: not a release archive (.whl, .tar.gz, .zip) or doc zip")
    try:
        dist = pkginfo.get_metadata(str(path))
    except (ValueError, OSError) as exc:
        dist = None
        reason = str(exc)
    else:
        reason = "no metadata found"
    if dist is None or not dist.name or not dist.version:
        raise ClientError(f"{path.name}: cannot read its metadata ({reason})")
    metadata: dict[str, str | list[str]] = {}
    for key in METADATA_FIELDS:
        value = getattr(dist, key, None)
        if value in (None, "", [], ()):
            continue
        metadata[key] = [str(v) for v in value] if isinstance(value, list | tuple) else str(value)
    if path.name.endswith(".whl"):
        filetype = "bdist_wheel"
        pyversion = path.name[: -len(".whl")].split("-")[-3]
    else:
        filetype, pyversion = "sdist", "source"
    return UploadFile(
        path=path,
        name=str(dist.name),
        version=str(dist.version),
        filetype=filetype,
        pyversion=pyversion,
        metadata=metadata,
    )


def order_for_upload(files: Iterable[UploadFile]) -> list[UploadFile]:
    """Release files sorted by path first, doc zips after them (as devpi-client does).

    A doc zip needs its version to exist, which the release upload creates.
    """
    files = list(files)
    return sorted((f for f in files if not f.is_doc), key=lambda f: str(f.path)) + sorted(
        (f for f in files if f.is_doc), key=lambda f: str(f.path)
    )


def is_project_dir(path: Path) -> bool:
    return (path / "pyproject.toml").is_file() or (path / "setup.py").is_file()


def _run(cmd: list[str], *, cwd: Path, what: str, debug: bool) -> None:
    env = dict(os.environ)
    # The build frontend talks to the terminal itself; keep its colours out of CI logs.
    env.setdefault("NO_COLOR", "1")
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        stdout=None if debug else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout or "").strip().splitlines()[-15:])
        if tail:
            print(tail, file=sys.stderr)
        raise ClientError(f"{what} failed (exit code {proc.returncode}); see the output above")


def build_packages(
    project: Path, outdir: Path, *, formats: set[str], isolation: bool, debug: bool = False
) -> list[Path]:
    """Build sdist and/or wheel of *project* into *outdir* with ``python -m build``."""
    if not is_project_dir(project):
        raise UsageError(f"{project} has no pyproject.toml or setup.py: nothing to build")
    cmd = [sys.executable, "-m", "build", "--outdir", str(outdir)]
    # With both formats let build make the wheel from the sdist, which also proves the
    # sdist is complete; otherwise ask for the one format only.
    if formats == {"sdist"}:
        cmd.append("--sdist")
    elif formats == {"wheel"}:
        cmd.append("--wheel")
    if not isolation:
        cmd.append("--no-isolation")
    cmd.append(str(project))
    _run(cmd, cwd=project, what=f"building {project}", debug=debug)
    built = sorted(p for p in outdir.iterdir() if is_release(p) and release_format(p) in formats)
    if not built:
        raise ClientError(f"building {project} produced no {' or '.join(sorted(formats))}")
    return built


def project_name_version(project: Path, *, isolation: bool) -> tuple[str, str]:
    """Name and version from the build backend, without building any archive."""
    from build.util import project_wheel_metadata

    try:
        metadata = project_wheel_metadata(project, isolated=isolation)
    except Exception as exc:  # build raises several unrelated types here
        raise ClientError(f"cannot read the metadata of {project}: {exc}") from None
    return str(metadata["Name"]), str(metadata["Version"])


def find_docs_dir(project: Path) -> Path:
    for name in DOCS_DIRS:
        candidate = project / name
        if (candidate / "conf.py").is_file() or (candidate / "index.html").is_file():
            return candidate
    raise UsageError(
        f"no documentation in {project}: expected docs/, doc/ or source/ holding a Sphinx "
        "conf.py or an already built index.html"
    )


def build_docs(
    project: Path, workdir: Path, *, name: str, version: str, debug: bool = False
) -> Path:
    """Make ``{name}-{version}.doc.zip`` from the project's documentation.

    A directory with a Sphinx ``conf.py`` is built with ``sphinx-build -E -b html`` (as
    ``devpi upload --with-docs`` does); a directory that already holds ``index.html`` is
    taken as built HTML and zipped as it is.
    """
    source = find_docs_dir(project)
    if (source / "conf.py").is_file():
        try:
            import sphinx  # noqa: F401
        except ImportError:
            raise ClientError(
                "building the docs needs Sphinx: pip install 'pyshelf-client[docs]'"
            ) from None
        html = workdir / "html"
        cmd = [sys.executable, "-m", "sphinx", "-E", "-q", "-b", "html", str(source), str(html)]
        _run(cmd, cwd=project, what="building the documentation", debug=debug)
    else:
        html = source
    target = workdir / f"{canonicalize_name(name)}-{version}{DOC_SUFFIX}"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(html.rglob("*")):
            if path.is_file() and ".doctrees" not in path.parts:
                zf.write(path, path.relative_to(html).as_posix())
    return target
