"""``/+health`` (liveness) and ``/+ready`` (readiness).

Both are answered before Pyramid (by ``metrics.MetricsMiddleware``), so they need no session,
pass no plugin's auth check (a locked-down server still answers its probes) and write no
access log line. ``/+health`` touches nothing: the process answers. ``/+ready`` checks that the
database answers at the schema this code runs and that the file store takes a new file; an
upstream that is down is reported but does not make the server unready, since serving from the
cache then is what a mirror is for.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

HEALTH_PATH = "/+health"
READY_PATH = "/+ready"


def database_check(app: Any) -> str:
    from . import migrations

    try:
        with app.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        state = migrations.check(app.engine)
    except Exception as error:
        return f"fail: {type(error).__name__}: {error}".splitlines()[0]
    if state == migrations.SchemaState.CURRENT:
        return "ok"
    if state == migrations.SchemaState.OLDER:
        return "fail: the schema is older than this pyshelf-server; run pyshelf-server --migrate"
    if state == migrations.SchemaState.NEWER:
        return "fail: the schema is newer than this pyshelf-server"
    return "fail: the database holds no pyshelf schema"


def storage_check(app: Any) -> str:
    """The store's temporary directory takes a new file (uploads are written there first),
    and the store answers a question about a blob (a stat, or a request to the bucket)."""
    try:
        app.files.temporary("ready-").unlink()
    except OSError as error:
        return f"fail: cannot write to the file store: {error}"
    try:
        app.files.exists("0" * 64)
    except Exception as error:
        return f"fail: the file store does not answer: {type(error).__name__}: {error}"
    return "ok"


def upstream_check(app: Any) -> str:
    """Whether a mirror's upstream failed as a whole lately (the mirror then serves its cache)."""
    runtime = app.__dict__.get("mirror_runtime")
    snapshot = app.registry.current()
    if runtime is None or snapshot is None:
        return "ok"
    failing = []
    for info in snapshot.by_name.values():
        if info.is_mirror and runtime.failures.get((info.id, None)):
            failing.append(info.fullname)
    return f"degraded: unreachable upstream of {', '.join(sorted(failing))}" if failing else "ok"


def readiness(app: Any) -> tuple[bool, dict[str, Any]]:
    checks = {"database": database_check(app), "storage": storage_check(app)}
    ready = all(value == "ok" for value in checks.values())
    checks["upstream"] = upstream_check(app)
    return ready, {"status": "ok" if ready else "fail", "checks": checks}


def answer(app: Any, environ: dict[str, Any], start_response: Any) -> list[bytes] | None:
    """The answer to a health or readiness probe, or None when ``environ`` is not one."""
    path = environ.get("PATH_INFO")
    if path != HEALTH_PATH and path != READY_PATH:
        return None
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        status, body = "405 Method Not Allowed", {"status": "fail", "message": "GET or HEAD only"}
    elif path == HEALTH_PATH:
        status, body = "200 OK", {"status": "ok"}
    else:
        ready, body = readiness(app)
        status = "200 OK" if ready else "503 Service Unavailable"
    data = json.dumps(body).encode() + b"\n"
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
         ("Cache-Control", "no-store")],
    )
    return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else data]
