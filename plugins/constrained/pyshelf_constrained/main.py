"""The ``constrained`` index type (devpi-constrained): a read-only index whose ``constraints``
filter what its bases provide — project list, versions, links — for every base type, mirrors
included. Names are compared normalised on both sides, so ``ceo_cona-1.0.tar.gz`` is
``ceo-cona`` 1.0.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from pyshelf_server import hookimpl
from pyshelf_server.plugin_api import IndexType, Option, OptionError, StageType, normalize_name

ALL_OTHERS_HIDDEN = "*"
MAX_CONSTRAINT_LINES = 10_000


def constraint_lines(key: str, value: Any) -> list[str]:
    """The lines as written (stripped), without comments and blank lines; refused (400) when a
    line does not parse or names a project a second time."""
    if value is None:
        return []
    if isinstance(value, str):
        raw = value.splitlines()
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        raw = [line for v in value for line in v.splitlines()]
    else:
        raise OptionError(f"'{key}' must be requirement lines (a string or a list of strings)")
    lines = [line.strip() for line in raw]
    lines = [line for line in lines if line and not line.startswith("#")]
    if len(lines) > MAX_CONSTRAINT_LINES:
        raise OptionError(f"'{key}' may have at most {MAX_CONSTRAINT_LINES} lines")
    named: set[str] = set()
    for line in lines:
        if line == ALL_OTHERS_HIDDEN:
            continue
        try:
            name = normalize_name(Requirement(line).name)
        except InvalidRequirement as error:
            # devpi's spelling of the message.
            raise OptionError(f"Error while parsing constrains: {line!r}: {error}") from None
        if name in named:
            raise OptionError(f"more than one constraint for {name!r} in '{key}'")
        named.add(name)
    return lines


@dataclass(frozen=True)
class Constraints:
    specifiers: dict[str, SpecifierSet]
    hides_others: bool

    def visible(self, project: str) -> bool:
        return not self.hides_others or normalize_name(project) in self.specifiers

    def specifier(self, project: str) -> SpecifierSet | None:
        return self.specifiers.get(normalize_name(project))


@lru_cache(maxsize=256)
def parsed(lines: tuple[str, ...]) -> Constraints:
    specifiers = {}
    for line in lines:
        if line != ALL_OTHERS_HIDDEN:
            requirement = Requirement(line)
            specifiers[normalize_name(requirement.name)] = requirement.specifier
    return Constraints(specifiers, ALL_OTHERS_HIDDEN in lines)


def constraints_of(index: Any) -> Constraints:
    return parsed(tuple(index.option("constraints", ()) or ()))


@lru_cache(maxsize=65536)
def allows(specifier: SpecifierSet, version: str | None) -> bool:
    """Whether ``version`` passes; with an empty specifier every version does (legacy ones
    too, as in devpi), otherwise one that does not parse never does."""
    if not specifier:
        return True
    if version is None:
        return False
    try:
        return specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


def version_of_file(filename: str) -> str | None:
    """The version in a release file's name; None when the name does not follow the wheel or
    sdist conventions."""
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        pass
    # Other formats (eggs, zips): "<name>-<version>[-…].<ext>" with the name normalised.
    stem = filename
    for suffix in (".egg", ".zip", ".tar.bz2", ".tgz", ".exe", ".msi"):
        stem = stem.removesuffix(suffix)
    parts = stem.split("-")
    return parts[1] if len(parts) >= 2 else None


class ConstrainedType(IndexType):
    name = "constrained"
    read_only = True
    options = {
        **StageType.options,
        "constraints": Option(constraint_lines, default=lambda owner: []),
    }

    def filter_projects(self, index: Any, names: Iterable[str]) -> Iterable[str]:
        constraints = constraints_of(index)
        if not constraints.hides_others:
            return names
        return _named(names, constraints)

    def filter_versions(self, index: Any, project: str, versions: Iterable[str]) -> Iterable[str]:
        constraints = constraints_of(index)
        if not constraints.visible(project):
            return []
        specifier = constraints.specifier(project)
        if specifier is None:
            return versions
        return [version for version in versions if allows(specifier, version)]

    def filter_links(self, index: Any, project: str, links: list[Any]) -> list[Any]:
        constraints = constraints_of(index)
        if not constraints.visible(project):
            return []
        specifier = constraints.specifier(project)
        if specifier is None:
            return links
        return [
            link
            for link in links
            if allows(specifier, link.version or version_of_file(link.filename))
        ]


def _named(names: Iterable[str], constraints: Constraints) -> Iterator[str]:
    for name in names:
        if normalize_name(name) in constraints.specifiers:
            yield name


@hookimpl
def pyshelf_get_index_types() -> list[type[IndexType]]:
    return [ConstrainedType]
