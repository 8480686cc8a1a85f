"""Core statements run on the driver's cursor, for the few that run on every upload or request.

Through ``Connection.execute`` a statement on the upload path cost ~100 µs of Python: the
compiled-cache lookup, the execution context, parameter processing, events and the result
object. SQLite ran it in ~20 µs. Ten of them per upload were a fifth of the upload's CPU, all
spent while holding the write lock. A :class:`DriverStatement` is compiled once per dialect
(so the SQL stays the dialect's own, PostgreSQL included), converts its parameters and results
with the column types' own processors, and runs on the DBAPI cursor of the connection it is
given, inside that connection's transaction.

What it leaves out: SQLAlchemy's execute events (nothing on these statements listens to them)
and the compiled cache (each statement is compiled once here). Driver errors are raised as
SQLAlchemy's, as ``Connection.execute`` would raise them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import Column, Table, bindparam, exc, insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement

Processor = Callable[[Any], Any]


class _Compiled:
    def __init__(self, statement: Any, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.positional = bool(compiled.positional)
        # The order of a positional paramstyle's values (a name may come more than once).
        self.order: list[str] = list(compiled.positiontup or []) if self.positional else []
        self.names = list(compiled.binds)
        # Values the statement carries itself (``serial + 1``, ``id == 1``).
        self.fixed = {
            name: bind.value for name, bind in compiled.binds.items() if not bind.required
        }
        self.processors: dict[str, Processor] = {}
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self.processors[name] = processor
        self.result_processors: list[Processor | None] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in getattr(statement, "exported_columns", ())
        ]
        self.processes_results = any(p is not None for p in self.result_processors)


class DriverStatement:
    """``statement`` with named bind parameters; :meth:`rows` runs it."""

    def __init__(
        self, statement: ClauseElement, *, defaults: Mapping[str, Callable[[], Any]] | None = None
    ) -> None:
        self.statement = statement
        # Values for parameters the caller leaves out (the columns' Python-side defaults).
        self.defaults = dict(defaults or {})
        self._by_dialect: dict[int, _Compiled] = {}

    @classmethod
    def insert(cls, table: Table, *, returning: Iterable[Column[Any]] = ()) -> DriverStatement:
        """An INSERT of every column but an autoincrementing primary key, each one bound by its
        key; columns left out get their Python-side default, else NULL."""
        columns = [c for c in table.columns if c is not table.autoincrement_column]
        statement = insert(table).values({c.key: bindparam(c.key) for c in columns})
        returning = tuple(returning)
        if returning:
            statement = statement.returning(*returning)
        defaults: dict[str, Callable[[], Any]] = {}
        for column in columns:
            defaults[column.key] = _default_of(column)
        return cls(statement, defaults=defaults)

    def _compiled(self, dialect: Dialect) -> _Compiled:
        compiled = self._by_dialect.get(id(dialect))
        if compiled is None:
            compiled = self._by_dialect[id(dialect)] = _Compiled(self.statement, dialect)
        return compiled

    def rows(self, connection: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run the statement on ``connection`` (in its transaction); the rows it returns."""
        return self.run(connection.connection, connection.dialect, params)

    def run(
        self, dbapi_connection: Any, dialect: Dialect, params: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        """Run the statement on a DBAPI connection of ``dialect``; the rows it returns."""
        compiled = self._compiled(dialect)
        values = self._values(compiled, params)
        cursor = dbapi_connection.cursor()
        try:
            try:
                cursor.execute(compiled.sql, values)
                rows = cursor.fetchall() if cursor.description else []
            except dialect.loaded_dbapi.Error as error:
                raise exc.DBAPIError.instance(
                    compiled.sql, values, error, dialect.loaded_dbapi.Error
                ) from error
        finally:
            cursor.close()
        if compiled.processes_results:
            processors = compiled.result_processors
            rows = [
                tuple(p(v) if p is not None else v for p, v in zip(processors, row, strict=True))
                for row in rows
            ]
        return [tuple(row) for row in rows]

    def first(self, connection: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        rows = self.rows(connection, params)
        return rows[0] if rows else None

    def _values(self, compiled: _Compiled, params: Mapping[str, Any]) -> Any:
        processors, fixed, defaults = compiled.processors, compiled.fixed, self.defaults
        values: dict[str, Any] = {}
        for name in compiled.names:
            if name in params:
                raw = params[name]
            elif name in fixed:
                raw = fixed[name]
            elif name in defaults:
                raw = defaults[name]()
            else:
                raise KeyError(f"no value for the bind parameter {name!r}")
            processor = processors.get(name)
            values[name] = processor(raw) if processor is not None else raw
        if compiled.positional:
            return tuple(values[name] for name in compiled.order)
        return values


def _default_of(column: Column[Any]) -> Callable[[], Any]:
    default = column.default
    if default is None or not (default.is_callable or default.is_scalar):
        return lambda: None
    if default.is_scalar:
        return lambda: default.arg
    # SQLAlchemy wraps a default callable so that it takes the execution context; ours take
    # none of its information.
    return lambda: default.arg(None)
