"""Inheritance: which stages answer for a project, and how their answers merge.

The rules are devpi's (see the protocol notes, section 11):

* the stage resolution order comes from :meth:`IndexSnapshot.resolution_order`;
* the whitelist gate: a project that exists in a hosted stage hides every mirror behind it,
  unless the combined ``mirror_whitelist`` admits it — the guard against dependency confusion;
* links merge by file name, the first stage in the order wins;
* versions merge by version string, the first stage's data is the answer and later stages'
  data goes to ``+shadowing``;
* after merging, the yanks hosted stages of the order declared on inherited releases mark
  their files, and the age rules of the order (``lifecycle.age``) hide files too new.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Container, Iterable, Iterator
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, TypeVar

from ..lifecycle.age import AgeRule, Held, rules_for, split_links
from ..simple.render import NO_REPOSITORY, Repository
from .backends import Link, StageBackend
from .registry import IndexInfo, IndexSnapshot

T = TypeVar("T")


class Inheritance:
    def __init__(
        self,
        snapshot: IndexSnapshot,
        backend_for: Callable[[IndexInfo], StageBackend],
        type_for: Callable[[IndexInfo], Any],
        *,
        inherited_yanks: Callable[[list[int], str], list[Any]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.snapshot = snapshot
        self.backend_for = backend_for
        self.type_for = type_for
        # (index ids, project) -> the InheritedYank rows of those indexes for the project.
        self.inherited_yanks = inherited_yanks
        self.clock = clock

    def age_rules(self, index: IndexInfo) -> tuple[AgeRule, ...]:
        return rules_for(self.resolution_order(index))

    def yanks_for(self, index: IndexInfo, project: str) -> list[Any]:
        """The yanks hosted stages of the order declared on inherited releases of
        ``project``."""
        if self.inherited_yanks is None:
            return []
        hosted = [s.id for s in self.resolution_order(index) if not s.is_mirror]
        return self.inherited_yanks(hosted, project) if hosted else []

    def repository(self, index: IndexInfo, project: str) -> Repository:
        """PEP 708: the ``tracks`` and ``alternate_locations`` of the hosted stages of the order
        that have ``project``, each base URL followed by the project's name."""
        declaring = [
            s for s in self.resolution_order(index)
            if s.options.get("tracks") or s.options.get("alternate_locations")
        ]  # fmt: skip
        if not declaring:
            return NO_REPOSITORY
        having = {backend.index.id for backend in self.stages_for(index, project)}
        tracks: list[str] = []
        alternates: list[str] = []
        for stage in declaring:
            if stage.id in having:
                tracks += [base + project + "/" for base in stage.options.get("tracks") or ()]
                alternates += [
                    base + project + "/" for base in stage.options.get("alternate_locations") or ()
                ]
        return Repository(tuple(dict.fromkeys(tracks)), tuple(dict.fromkeys(alternates)))

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

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
        """Merged links visible now, or None when no allowed stage has the project."""
        found = self.visible_links(index, project)
        return found[0] if found is not None else None

    def visible_links(self, index: IndexInfo, project: str) -> tuple[list[Link], Held] | None:
        """(merged links visible now, with inherited yanks marked; what the age rules hold
        back), or None when no allowed stage has the project."""
        merged = self.merged_links(index, project)
        if merged is None:
            return None
        yanks = self.yanks_for(index, project)
        if yanks:
            merged = [_marked(link, yanks) for link in merged]
        rules = self.age_rules(index)
        if not rules:
            return merged, Held([])
        return split_links(rules, project, merged, self.now())

    def merged_links(self, index: IndexInfo, project: str) -> list[Link] | None:
        """Merged links as the stages have them, or None when no allowed stage has the
        project."""
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
        # Entries are stored as uploaded: age rules and inherited yanks change what they show.
        if self.age_rules(index) or self.yanks_for(index, project):
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
        answers = {v: a for v, a in answers.items() if v in allowed}
        yanks = self.yanks_for(index, project)
        if not self.age_rules(index) and not yanks:
            return answers
        return self._lifecycle_versions(index, project, answers, yanks)

    def _lifecycle_versions(
        self,
        index: IndexInfo,
        project: str,
        answers: dict[str, list[tuple[IndexInfo, dict[str, Any]]]],
        yanks: list[Any],
    ) -> dict[str, list[tuple[IndexInfo, dict[str, Any]]]]:
        """``answers`` with the release files the age rules hold back left out (and a version
        whose files are all held back with them), and inherited yanks marked."""
        found = self.visible_links(index, project)
        held = {link.filename for link in found[1].links} if found is not None else set()
        adjusted: dict[str, list[tuple[IndexInfo, dict[str, Any]]]] = {}
        for version, stage_answers in answers.items():
            kept_answers = []
            for stage, data in stage_answers:
                links = data.get("+links", [])
                releases = [e for e in links if e.get("rel") == "releasefile"]
                kept = [e for e in links if _basename(e) not in held]
                if releases and not any(e.get("rel") == "releasefile" for e in kept):
                    continue
                marked = []
                for entry in kept:
                    yank = _yank_of(yanks, version, _basename(entry))
                    if yank is not None and entry.get("rel") == "releasefile":
                        entry = {**entry, "yanked": yank.reason or True}
                    marked.append(entry)
                kept_answers.append((stage, {**data, "+links": marked}))
            if kept_answers:
                adjusted[version] = kept_answers
        return adjusted

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


def _basename(entry: dict[str, Any]) -> str:
    return str(entry.get("href", "")).rsplit("/", 1)[-1]


def _yank_of(yanks: list[Any], version: str | None, filename: str) -> Any:
    for yank in yanks:
        if yank.version == version and yank.filename in ("", filename):
            return yank
    return None


def _marked(link: Link, yanks: list[Any]) -> Link:
    yank = _yank_of(yanks, link.version, link.filename)
    if yank is None or link.yanked is not False:
        return link
    return dataclasses.replace(link, yanked=yank.reason or True)


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
