"""The caching mirror: an index type whose projects come from an upstream simple index (PEP 503
or PEP 691), cached in the database and the file store. ``docs/mirror.md`` describes the
behaviour; each module here has one job (see its docstring)."""
