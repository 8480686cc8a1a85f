"""Inheritance: which stages answer for a project, and how their answers merge.

The rules are devpi's (see the protocol notes, section 11):

* the stage resolution order comes from :meth:`IndexSnapshot.resolution_order`;
* the whitelist gate: a project that exists in a hosted stage hides every mirror behind it,
  unless the combined ``mirror_whitelist`` admits it — the guard against dependency confusion;
* links merge by file name, the first stage in the order wins;
* versions merge by version string, the first stage's data is the answer and later stages'
  data goes to ``+shadowing``.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator
from operator import itemgetter
from typing import Any, TypeVar

from .backends import Link, StageBackend
from .registry import IndexInfo, IndexSnapshot

T = TypeVar("T")


class Inheritance:
    def __init__(
        self,
        snapshot: IndexSnapshot,
        backend_for: Callable[[IndexInfo], StageBackend],
        type_for: Callable[[IndexInfo], Any],
    ) -> None:
        self.snapshot = snapshot
        self.backend_for = backend_for
        self.type_for = type_for

    def resolution_order(self, index: IndexInfo) -> list[IndexInfo]:
        return self.snapshot.resolution_order(index)

    def stages_for(self, index: IndexInfo, project: str) -> list[StageBackend]:
        """The stages allowed to answer for ``project`` through ``index``, in order, each of
        which has (or, for list-less mirrors, may have) the project. None of them when the
        index's type filters the project out (``filter_projects``): it does not exist through it."""
        if not list(self.type_for(index).filter_projects(index, [project])):
            return []
        inheritance = index.options.get("mirror_whitelist_inheritance", "union")
        running: set[str] | None = None
        whitelisted = False
        private_hit = False
        stages: list[StageBackend] = []
        for stage in self.resolution_order(index):
            backend = self.backend_for(stage)
            if stage.is_mirror:
                if private_hit and not whitelisted:
                    continue
                has = backend.has_project(project)
                if has or (has is None and not private_hit):
                    stages.append(backend)
                continue
            whitelist = set(stage.options.get("mirror_whitelist", []))
            if running is None:
                running = whitelist
            elif inheritance == "intersection":
                running = running & whitelist
            else:
                running = running | whitelist
            if "*" in running or project in running:
                whitelisted = True
            if backend.has_project(project):
                stages.append(backend)
                if not whitelisted:
                    private_hit = True
        return stages

    def links(self, index: IndexInfo, project: str) -> list[Link] | None:
        """Merged links, or None when no allowed stage has the project."""
        answers = [
            links
            for backend in self.stages_for(index, project)
            if (links := backend.links(project)) is not None
        ]
        if not answers:
            return None
        merged = _first_per_filename(answers, lambda link: link.filename)
        return self.type_for(index).filter_links(index, project, merged)

    def page_entries(
        self, index: IndexInfo, project: str, media_type: str
    ) -> tuple[list[str], list[str | None]] | None:
        """The versions and stored page entries of the merged links (the rule of
        :meth:`links`), or None when a stage of the order stores no entries or no allowed
        stage has the project. The index type's ``filter_links`` is not applied: callers
        use entries only where the type does not change links (``changes_links``)."""
        # Decided before asking any stage for the project: a mirror's answer may be costly.
        for stage in self.resolution_order(index):
            if not getattr(self.backend_for(stage), "stores_page_entries", False):
                return None
        answers = [
            rows
            for backend in self.stages_for(index, project)
            if (rows := backend.page_entries(project, media_type)) is not None
        ]
        if not answers:
            return None
        # One stage's file names are unique already (an index holds a name once).
        rows = answers[0] if len(answers) == 1 else _first_per_filename(answers, itemgetter(0))
        return [row[1] for row in rows], [row[2] for row in rows]

    def versions(
        self, index: IndexInfo, project: str, *, ignore_bases: bool = False
    ) -> dict[str, dict[str, Any]] | None:
        """devpi's merged versiondata: the first stage's data of each version, later stages'
        data under ``+shadowing``."""
        answers = self.version_answers(index, project, ignore_bases=ignore_bases)
        if answers is None:
            return None
        merged: dict[str, dict[str, Any]] = {}
        for version, ((_first, data), *shadowing) in answers.items():
            merged[version] = dict(data)
            if shadowing:
                merged[version]["+shadowing"] = [
                    *data.get("+shadowing", []),
                    *(later for _stage, later in shadowing),
                ]
        return merged

    def version_answers(
        self, index: IndexInfo, project: str, *, ignore_bases: bool = False
    ) -> dict[str, list[tuple[IndexInfo, dict[str, Any]]]] | None:
        """Each version the index type lets through, with the (stage, versiondata) of every
        allowed stage that has it, in resolution order; None when none has the project."""
        stages = self.stages_for(index, project)
        if ignore_bases:
            stages = [s for s in stages if s.index.id == index.id]
        answers: dict[str, list[tuple[IndexInfo, dict[str, Any]]]] = {}
        found = False
        for backend in stages:
            versions = backend.versions(project)
            if versions is None:
                continue
            found = True
            for version, data in versions.items():
                answers.setdefault(version, []).append((backend.index, data))
        if not found:
            return None
        allowed = set(self.type_for(index).filter_versions(index, project, list(answers)))
        return {v: a for v, a in answers.items() if v in allowed}

    def cache_token(self, index: IndexInfo, project: str) -> tuple[tuple[Any, ...], float | None]:
        """A token covering every stage that could answer for ``project``, and until when it
        can be trusted (the earliest expiry of a mirror among them)."""
        tokens: list[Any] = []
        fresh_until: float | None = None
        for stage in self.resolution_order(index):
            token, until = self.backend_for(stage).cache_token(project)
            tokens.append((stage.id, token))
            if until is not None:
                fresh_until = until if fresh_until is None else min(fresh_until, until)
        return tuple(tokens), fresh_until

    def project_lists(self, index: IndexInfo) -> list[tuple[IndexInfo, Iterable[str]]]:
        """Per stage in order, its project names not listed by an earlier stage.

        Small lists are read and sorted now. A backend with ``streams_project_names`` (a
        mirror: about a million names upstream) hands out a sorted list that stays usable after
        the request's session is closed; its section is filtered lazily while the answer is
        streamed, against the names of every earlier section.
        """
        seen: set[str] = set()
        streamed: list[Container[str]] = []
        sections: list[tuple[IndexInfo, Iterable[str]]] = []
        index_type = self.type_for(index)
        for stage in self.resolution_order(index):
            backend = self.backend_for(stage)
            names = backend.project_names()
            if getattr(backend, "streams_project_names", False):
                filtered = index_type.filter_projects(index, names)
                sections.append((stage, _unlisted(filtered, frozenset(seen), tuple(streamed))))
                streamed.append(names)  # type: ignore[arg-type]
                continue
            listed = sorted(
                n
                for n in index_type.filter_projects(index, names)
                if n not in seen and not any(n in earlier for earlier in streamed)
            )
            seen.update(listed)
            sections.append((stage, listed))
        return sections


def _unlisted(
    names: Iterable[str], seen: frozenset[str], streamed: tuple[Container[str], ...]
) -> Iterator[str]:
    for name in names:
        if name in seen or any(name in earlier for earlier in streamed):
            continue
        yield name


def _first_per_filename(answers: list[Iterable[T]], filename: Callable[[T], str]) -> list[T]:
    """The items of every stage's answer in order, each file name taken from the first stage
    that has it."""
    seen: set[str] = set()
    merged: list[T] = []
    for items in answers:
        for item in items:
            name = filename(item)
            if name not in seen:
                seen.add(name)
                merged.append(item)
    return merged
