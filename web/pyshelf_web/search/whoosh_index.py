"""The Whoosh index: its schema, writing documents, and ranked, highlighted queries.

Two kinds of documents live in one index:

* ``project``: one per project per index (``user/index``), describing its preferred version
  (name, summary, description, keywords);
* ``page``: one per HTML page of the project's newest documentation.

Only the indexer thread writes (see ``indexer.py``); requests only read. The index lives in the
server directory and survives restarts; a ``schema-version`` file next to it makes a changed
schema trigger a rebuild instead of a crash.

Whoosh itself is imported where it is first used, not with this module: the server imports the
plugin at start, and importing Whoosh then cost ~45 ms before the server could answer.
"""

from __future__ import annotations

import html
import logging
import re
import shutil
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from whoosh.fields import Schema

log = logging.getLogger(__name__)

SCHEMA_VERSION = "3"
# Name parts: "Foo.Bar_baz" is found as "foo", "bar" and "baz", whatever the separators.
NAME_TOKENS = re.compile(r"[A-Za-z0-9]+")
# Words of prose: letters and digits, split at any punctuation ("shelfdemo.hello",
# "world_wide" and "**hello**" are two words, two words and one).
PROSE_TOKENS = r"[^\W_]+"
MAX_DESCRIPTION = 50_000


def name_analyzer() -> Any:
    from whoosh.analysis import LowercaseFilter, RegexTokenizer

    return RegexTokenizer(NAME_TOKENS.pattern) | LowercaseFilter()


def make_schema() -> Schema:
    from whoosh.analysis import StemmingAnalyzer
    from whoosh.fields import ID, STORED, TEXT, Schema

    prose = StemmingAnalyzer(expression=PROSE_TOKENS)
    return Schema(
        key=ID(unique=True, stored=True),
        type=ID(stored=True),
        index=ID(stored=True),
        project=ID(stored=True),
        # The name without any separators ("foobarbaz"), so that every spelling matches.
        joined=ID(),
        name=TEXT(stored=True, analyzer=name_analyzer()),
        summary=TEXT(stored=True, analyzer=prose),
        description=TEXT(stored=True, analyzer=prose),
        keywords=TEXT(stored=True, analyzer=prose),
        title=TEXT(stored=True, analyzer=prose),
        text=TEXT(stored=True, analyzer=prose),
        version=STORED(),
        path=STORED(),
        docs=STORED(),
        # The project's change token when it was indexed (``ShelfReader.project_tokens``).
        change=STORED(),
    )


def joined_name(name: str) -> str:
    return "".join(NAME_TOKENS.findall(name)).lower()


def normalized_name(name: str) -> str:
    return "-".join(NAME_TOKENS.findall(name)).lower()


def project_key(index_name: str, project: str) -> str:
    return f"project:{index_name}:{project}"


def page_key(index_name: str, project: str, path: str) -> str:
    return f"page:{index_name}:{project}:{path}"


@cache
def _mark_formatter_class() -> type:
    from whoosh import highlight

    class _MarkFormatter(highlight.Formatter):
        """Matches wrapped in ``<mark>``; everything else HTML-escaped."""

        between = " … "

        def _text(self, text: str) -> str:
            return html.escape(text, quote=False)

        def format_token(self, text: str, token: Any, replace: bool = False) -> str:
            return (
                "<mark>"
                + html.escape(highlight.get_text(text, token, replace), quote=False)
                + "</mark>"
            )

    return _MarkFormatter


@dataclass
class Match:
    """One hit: a project in one index, or one of its documentation pages."""

    type: str
    index: str
    project: str
    name: str
    version: str
    score: float
    tier: int
    summary: str = ""
    highlights: dict[str, str] = field(default_factory=dict)
    path: str = ""
    title: str = ""
    # While the searcher is open: the Whoosh hit and the fields it matched in.
    hit: Any = None
    matched: set[str] = field(default_factory=set)


@dataclass
class ProjectGroup:
    """Every hit of one project, in all indexes searched."""

    project: str
    name: str
    tier: int
    score: float
    matches: list[Match] = field(default_factory=list)


@dataclass
class SearchResults:
    total: int
    groups: list[ProjectGroup]
    gone: set[str]


class SearchIndex:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.RLock()
        self._index: Any = None
        # True when the index was (re)created empty and the indexer must fill it.
        self.needs_rebuild = False

    @cached_property
    def schema(self) -> Schema:
        return make_schema()

    # -- opening ---------------------------------------------------------------------------

    def open(self) -> None:
        from whoosh import index

        with self._lock:
            marker = self.directory / "schema-version"
            current = marker.read_text().strip() if marker.exists() else None
            if current == SCHEMA_VERSION and index.exists_in(str(self.directory)):
                try:
                    self._index = index.open_dir(str(self.directory))
                    return
                except Exception:
                    log.exception("search index unreadable; recreating it")
            self.recreate()

    def recreate(self) -> None:
        from whoosh import index

        with self._lock:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory.mkdir(parents=True, exist_ok=True)
            self._index = index.create_in(str(self.directory), self.schema)
            (self.directory / "schema-version").write_text(SCHEMA_VERSION + "\n")
            self.needs_rebuild = True

    @property
    def opened(self) -> bool:
        return self._index is not None

    @property
    def ix(self) -> Any:
        """The Whoosh index, opened on first use (by the indexer thread after the server
        started, or by a request that came first)."""
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self.open()
        return self._index

    def doc_count(self) -> int:
        return self.ix.doc_count()

    # -- writing (indexer thread only) -------------------------------------------------------

    def writer(self) -> Any:
        # A small memory budget: documents are small and the server must stay lean.
        return self.ix.writer(limitmb=32)

    @staticmethod
    def write_project(
        writer: Any,
        index_name: str,
        project: str,
        doc: dict[str, Any] | None,
        pages: Iterable[Any] | None,
    ) -> None:
        """Replace what the index holds about ``project`` in ``index_name``.

        ``doc`` None removes the project (and its pages). ``pages`` None keeps the pages as
        they are (the docs did not change); a list replaces them.
        """
        from whoosh import query as q

        if doc is None or pages is not None:
            writer.delete_by_query(
                q.And(
                    [
                        q.Term("type", "page"),
                        q.Term("index", index_name),
                        q.Term("project", project),
                    ]
                )
            )
        if doc is None:
            writer.delete_by_term("key", project_key(index_name, project))
            return
        writer.update_document(**doc)
        for page in pages or ():
            writer.add_document(
                key=page_key(index_name, project, page.path),
                type="page",
                index=index_name,
                project=project,
                name=doc["name"],
                version=doc["version"],
                title=page.title,
                text=page.text,
                path=page.path,
            )

    @staticmethod
    def remove_index(writer: Any, index_name: str) -> None:
        writer.delete_by_term("index", index_name)

    @staticmethod
    def commit(writer: Any, *, replace_all: bool = False) -> None:
        from whoosh import writing

        writer.commit(mergetype=writing.CLEAR if replace_all else None)

    # -- reading -----------------------------------------------------------------------------

    def stored_projects(
        self, index_name: str, projects: Iterable[str]
    ) -> dict[str, dict[str, Any]]:
        """Stored fields of these projects' documents in ``index_name`` (for list pages).

        Read straight from the postings of the unique ``key`` field: a query (even one Or of
        all keys) costs several times more for a page of a hundred projects.
        """
        from whoosh.reading import TermNotFound

        found: dict[str, dict[str, Any]] = {}
        with self.ix.searcher() as searcher:
            reader = searcher.reader()
            for project in projects:
                try:
                    postings = reader.postings("key", project_key(index_name, project))
                except TermNotFound:
                    continue
                # An updated document leaves its deleted predecessor in the postings until
                # segments merge: take the live one.
                for docnum in postings.all_ids():
                    if not reader.is_deleted(docnum):
                        found[project] = reader.stored_fields(docnum)
                        break
        return found

    def stored_changes(self) -> dict[tuple[str, str], str]:
        """``{(index, project): change token}`` of every project document."""
        found: dict[tuple[str, str], str] = {}
        with self.ix.searcher() as searcher:
            for fields in searcher.reader().all_stored_fields():
                if fields.get("type") == "project":
                    found[fields["index"], fields["project"]] = fields.get("change") or ""
        return found

    def stored_docs(self, index_name: str, project: str) -> str | None:
        """The sha256 of the docs zip whose pages are indexed for this project, if any."""
        with self.ix.searcher() as searcher:
            fields = searcher.document(key=project_key(index_name, project))
        return (fields or {}).get("docs")

    def documents_of(self, index_name: str) -> int:
        """How many documents belong to ``index_name`` (deleted ones not counted)."""
        from whoosh import query as q

        with self.ix.searcher() as searcher:
            return len(searcher.search(q.Term("index", index_name), limit=None))

    def search(
        self,
        text: str,
        *,
        indexes: Iterable[str] | None = None,
        existing: set[str] | None = None,
        offset: int = 0,
        count: int = 20,
        limit: int = 500,
    ) -> SearchResults:
        """Projects matching ``text``, best first, grouped by project; highlights only for the
        ``count`` groups from ``offset`` (the page shown).

        Ranking is by tier first, then by Whoosh's BM25F score: the exact name (in any of its
        spellings), then every query word in the name, then summary or keyword matches, then
        anything else (descriptions, documentation). ``indexes`` limits the search to those
        indexes; hits of indexes not in ``existing`` (deleted since) are left out and named in
        the result's ``gone``.
        """
        from whoosh import highlight
        from whoosh import query as q

        words = NAME_TOKENS.findall(text)
        indexes = list(indexes) if indexes is not None else None
        if not words or indexes == []:
            return SearchResults(0, [], set())
        query = self._query(text, words)
        allowed = q.Or([q.Term("index", name) for name in indexes]) if indexes else None
        groups: dict[str, ProjectGroup] = {}
        gone: set[str] = set()
        with self.ix.searcher() as searcher:
            results = searcher.search(query, limit=limit, filter=allowed, terms=True)
            results.formatter = _mark_formatter_class()()
            # Long stored texts are only scanned so far for snippets: enough, and bounded.
            results.fragmenter = highlight.ContextFragmenter(
                maxchars=200, surround=60, charlimit=20_000
            )
            for hit in results:
                match = self._match(hit, text, words)
                if existing is not None and match.index not in existing:
                    gone.add(match.index)
                    continue
                group = groups.get(match.project)
                if group is None:
                    group = groups[match.project] = ProjectGroup(
                        project=match.project, name=match.name, tier=match.tier, score=match.score
                    )
                group.matches.append(match)
                if (match.tier, -match.score) < (group.tier, -group.score):
                    group.tier, group.score = match.tier, match.score
            ordered = sorted(groups.values(), key=lambda g: (g.tier, -g.score, g.project))
            shown = ordered[offset : offset + count]
            for group in shown:
                group.matches.sort(key=lambda m: (m.type != "project", m.tier, -m.score, m.index))
                for match in group.matches:
                    match.highlights = self._highlights(match.hit, match.matched)
                    match.hit = None
        return SearchResults(len(ordered), shown, gone)

    def _query(self, text: str, words: list[str]) -> Any:
        from whoosh import query as q

        lowered = [w.lower() for w in words]
        per_word = []
        for position, word in enumerate(lowered):
            alternatives: list[Any] = [q.Term("name", word, boost=8.0)]
            if position == len(lowered) - 1 and len(word) >= 2:
                # The last word may be unfinished: "reque" finds "requests" by name.
                alternatives.append(q.Prefix("name", word, boost=2.0))
            for fieldname, boost in (
                ("summary", 3.0),
                ("keywords", 3.0),
                ("title", 1.5),
                ("description", 1.0),
                ("text", 1.0),
            ):
                terms = list(self.schema[fieldname].process_text(word, mode="query"))
                alternatives.extend(q.Term(fieldname, term, boost=boost) for term in terms)
            per_word.append(q.Or(alternatives))
        exact = [
            q.Term("project", normalized_name(text), boost=50.0),
            q.Term("joined", joined_name(text), boost=30.0),
        ]
        return q.Or([*exact, q.And(per_word)])

    @staticmethod
    def _tier(fields: dict[str, Any], text: str, words: list[str], matched: set[str]) -> int:
        if fields.get("type") == "project" and (
            fields.get("project") == normalized_name(text)
            or joined_name(fields.get("name", "")) == joined_name(text)
        ):
            return 0
        name_words = {w.lower() for w in NAME_TOKENS.findall(fields.get("name", ""))}
        if fields.get("type") == "project" and all(w.lower() in name_words for w in words):
            return 1
        if "summary" in matched or "keywords" in matched:
            return 2
        return 3

    def _match(self, hit: Any, text: str, words: list[str]) -> Match:
        fields = hit.fields()
        matched = {fieldname for fieldname, _term in (hit.matched_terms() or [])}
        return Match(
            type=fields.get("type", "project"),
            index=fields.get("index", ""),
            project=fields.get("project", ""),
            name=fields.get("name", "") or fields.get("project", ""),
            version=fields.get("version", "") or "",
            score=float(hit.score or 0.0),
            tier=self._tier(fields, text, words, matched),
            summary=fields.get("summary", "") or "",
            path=fields.get("path", "") or "",
            title=fields.get("title", "") or "",
            hit=hit,
            matched=matched,
        )

    @staticmethod
    def _highlights(hit: Any, matched: set[str]) -> dict[str, str]:
        found = {}
        for fieldname in ("summary", "description", "keywords", "text"):
            if fieldname in matched and hit.get(fieldname):
                snippet = hit.highlights(fieldname, top=2)
                if snippet:
                    found[fieldname] = snippet
        return found
