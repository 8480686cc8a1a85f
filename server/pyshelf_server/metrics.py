"""Prometheus metrics (``GET /+metrics``) and what feeds them.

Each server process keeps its own metrics in a registry of its own and is its own scrape
target: pyshelf serves with threads in one process (waitress), so nothing is shared between
processes and no multiprocess mode is needed; several processes are several targets, told
apart by Prometheus's ``instance`` label and summed in PromQL. A registry per application (not
prometheus_client's global one) also lets several applications live in one test process.

Requests are counted by a WSGI middleware around the whole application (cached simple pages
are answered before Pyramid, see ``simple.fastpath``); a tween tells it the route that
answered. The mirror records its cache outcomes and upstream calls through ``metrics_of(app)``.
Labels are bounded: route names, methods, status codes and index names, never users, projects
or files.
"""

from __future__ import annotations

import hmac
import platform
import shutil
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable
from itertools import accumulate
from time import perf_counter
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from . import __version__, health

# A ``_created`` series per counter doubles what is scraped and says little.
disable_created_metrics()

METRICS_PATH = "/+metrics"
# The WSGI environ key by which the route tween tells the middleware which route answered.
ROUTE_KEY = "pyshelf.route"
# Hosted pages take single-digit milliseconds; prometheus_client's default buckets start at 5.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
UPSTREAM_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
PROBE_PATHS = frozenset({METRICS_PATH, health.HEALTH_PATH, health.READY_PATH})
FILE_ROUTES = frozenset({"files.entry", "files.external"})
# The routes whose answers count in more than the request metrics.
RARE_ROUTES = FILE_ROUTES | {"login", "index"}


class RequestStats:
    """The request counts, latency histograms, bytes and requests in progress, kept in plain
    dictionaries under one lock and exposed as metric families at scrape time:
    prometheus-client's own counters and histogram take a lock and several calls each, which
    was most of the cost of counting a cached simple page."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_progress = 0
        # (method, route, code) -> [count, seconds, count per latency bucket (+Inf last)]
        self.series: dict[tuple[str, str, int], list[Any]] = {}
        self.response_bytes = {"page": 0, "file": 0}

    def start(self) -> None:
        with self.lock:
            self.in_progress += 1

    def finish(self, method: str, route: str, code: int, seconds: float,
               size: int | None) -> None:
        bucket = bisect_left(LATENCY_BUCKETS, seconds)
        key = (method, route, code)
        with self.lock:
            self.in_progress -= 1
            entry = self.series.get(key)
            if entry is None:
                entry = self.series[key] = [0, 0.0, [0] * (len(LATENCY_BUCKETS) + 1)]
            entry[0] += 1
            entry[1] += seconds
            entry[2][bucket] += 1
            if size:
                self.response_bytes["file" if route in FILE_ROUTES else "page"] += size

    def describe(self) -> Iterable[Any]:
        return []

    def collect(self) -> Iterable[Any]:
        with self.lock:
            in_progress = self.in_progress
            series = {key: (entry[0], entry[1], list(entry[2]))
                      for key, entry in self.series.items()}
            response_bytes = dict(self.response_bytes)
        requests = CounterMetricFamily("pyshelf_http_requests", "HTTP requests answered",
                                       labels=["method", "route", "code"])
        latency: dict[tuple[str, str], tuple[int, float, list[int]]] = {}
        for (method, route, code), (count, seconds, buckets) in sorted(series.items()):
            requests.add_metric([method, route, str(code)], count)
            total, summed, counts = latency.get((method, route), (0, 0.0, [0] * len(buckets)))
            merged = [a + b for a, b in zip(counts, buckets, strict=True)]
            latency[(method, route)] = (total + count, summed + seconds, merged)
        yield requests
        duration = HistogramMetricFamily(
            "pyshelf_http_request_duration_seconds",
            "Time from the request to the start of the answer (not the whole body)",
            labels=["method", "route"],
        )
        bounds = [*(str(float(b)) for b in LATENCY_BUCKETS), "+Inf"]
        for (method, route), (_total, summed, counts) in latency.items():
            cumulative = list(accumulate(counts))
            duration.add_metric([method, route], list(zip(bounds, cumulative, strict=True)), summed)
        yield duration
        yield GaugeMetricFamily("pyshelf_http_requests_in_progress", "Requests being worked on",
                                value=in_progress)
        sent = CounterMetricFamily("pyshelf_http_response_bytes",
                                   "Bytes of answers with a Content-Length", labels=["kind"])
        for kind, value in response_bytes.items():
            sent.add_metric([kind], value)
        yield sent


class ServerMetrics:
    """The metrics of one server process."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.registry = registry = CollectorRegistry(auto_describe=True)
        # The standard process, platform and GC metrics (process_*, python_*), as every
        # Python exporter has them; they describe this process, as the rest does.
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(collector)
        # Every request passes through here: its counts are kept by RequestStats (one lock
        # per update) and turned into metric families only when Prometheus scrapes.
        self.http = RequestStats()
        registry.register(self.http)
        self.downloads = Counter(
            "pyshelf_file_downloads", "Files served (GET, 200)", ["index"], registry=registry
        )
        self.uploads = Counter(
            "pyshelf_uploads", "Uploads through the legacy upload form (releases, docs)",
            ["index", "outcome"], registry=registry,
        )
        self.upload_bytes = Counter(
            "pyshelf_upload_bytes", "Bytes of accepted uploads", ["index"], registry=registry
        )
        self.logins = Counter(
            "pyshelf_logins", "POST /+login outcomes", ["outcome"], registry=registry
        )
        self.mirror_pages = Counter(
            "pyshelf_mirror_page_requests", "Mirror simple pages by cache outcome",
            ["index", "result"], registry=registry,
        )
        self.mirror_files = Counter(
            "pyshelf_mirror_file_requests", "Mirror files by cache outcome",
            ["index", "result"], registry=registry,
        )
        self.mirror_hit_bytes = Counter(
            "pyshelf_mirror_cache_hit_bytes",
            "Bytes of mirror files served from the store (upstream traffic saved)",
            ["index"], registry=registry,
        )
        self.upstream_requests = Counter(
            "pyshelf_upstream_requests", "Requests to upstream indexes",
            ["kind", "outcome"], registry=registry,
        )
        self.upstream_duration = Histogram(
            "pyshelf_upstream_request_duration_seconds", "Upstream time to the answer's headers",
            ["kind"], buckets=UPSTREAM_BUCKETS, registry=registry,
        )
        self.upstream_bytes = Counter(
            "pyshelf_upstream_bytes", "Bytes of upstream pages and lists read", registry=registry
        )
        registry.register(StateCollector(app))
        # Children looked up by label values once: labels() costs more than inc() itself.
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *values: str) -> Any:
        key = (id(metric), *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def request(
        self, method: str, route: str, code: int, seconds: float, size: int | None,
        environ: dict[str, Any],
    ) -> None:
        self.http.finish(method, route, code, seconds, size)
        if route not in RARE_ROUTES:
            return
        if route == "login" and method == "POST" and code in (200, 401):
            self._child(self.logins, "ok" if code == 200 else "failed").inc()
            return
        index = environ.get(ROUTE_KEY + ".index")
        # A 404 may name an index that does not exist: no label for it.
        if index is None or code == 404:
            return
        if route in FILE_ROUTES and method == "GET" and code == 200:
            self._child(self.downloads, index).inc()
        elif route == "index" and method == "POST" and environ.get(ROUTE_KEY + ".upload"):
            outcome = (
                "ok" if code < 300 else "conflict" if code == 409
                else "error" if code >= 500 else "rejected"
            )
            self._child(self.uploads, index, outcome).inc()
            if outcome == "ok":
                self._child(self.upload_bytes, index).inc(int(environ.get("CONTENT_LENGTH") or 0))

    def mirror_page(self, index: str, result: str) -> None:
        self._child(self.mirror_pages, index, result).inc()

    def mirror_file(self, index: str, result: str, hit_bytes: int = 0) -> None:
        self._child(self.mirror_files, index, result).inc()
        if hit_bytes:
            self._child(self.mirror_hit_bytes, index).inc(hit_bytes)

    def upstream(self, kind: str, outcome: str, seconds: float, size: int = 0) -> None:
        self._child(self.upstream_requests, kind, outcome).inc()
        self._child(self.upstream_duration, kind).observe(seconds)
        if size:
            self.upstream_bytes.inc(size)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class NoMetrics:
    """What the server records into with ``--no-metrics`` (and before metrics are set up)."""

    def request(self, *args: Any) -> None:
        pass

    def mirror_page(self, index: str, result: str) -> None:
        pass

    def mirror_file(self, index: str, result: str, hit_bytes: int = 0) -> None:
        pass

    def upstream(self, kind: str, outcome: str, seconds: float, size: int = 0) -> None:
        pass


NO_METRICS = NoMetrics()


def metrics_of(app: Any) -> ServerMetrics | NoMetrics:
    """The metrics of ``app`` (an ``AppState``)."""
    return app.__dict__.get("metrics") or NO_METRICS


def upstream_outcome(error: BaseException | None, status: int | None) -> str:
    if error is not None:
        from .mirror.upstream import UpstreamTimeout

        return "timeout" if isinstance(error, UpstreamTimeout) else "connect_error"
    if status == 304:
        return "304"
    return f"{(status or 0) // 100}xx"


class StateCollector:
    """What is read when Prometheus scrapes: database and store health, disk space, the
    connection pool, the serial, build information."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def describe(self) -> Iterable[Any]:
        return []

    def collect(self) -> Iterable[Any]:
        app = self.app
        up = GaugeMetricFamily(
            "pyshelf_up", "1 when the part answers, 0 when not", labels=["part"]
        )
        up.add_metric(["database"], 1.0 if health.database_check(app) == "ok" else 0.0)
        up.add_metric(["storage"], 1.0 if health.storage_check(app) == "ok" else 0.0)
        yield up
        try:
            # Where files are written first, which is the store itself for a directory.
            usage = shutil.disk_usage(app.files.tmproot)
        except OSError:
            usage = None
        if usage is not None:
            free = GaugeMetricFamily(
                "pyshelf_disk_free_bytes", "Free space where files are stored", labels=["path"]
            )
            free.add_metric(["files"], float(usage.free))
            yield free
            total = GaugeMetricFamily(
                "pyshelf_disk_total_bytes", "Size of the file system files are stored on",
                labels=["path"],
            )
            total.add_metric(["files"], float(usage.total))
            yield total
        pool = app.engine.pool
        if hasattr(pool, "checkedout") and hasattr(pool, "checkedin"):
            connections = GaugeMetricFamily(
                "pyshelf_db_pool_connections", "Database connections of this process",
                labels=["state"],
            )
            connections.add_metric(["checked_out"], float(pool.checkedout()))
            connections.add_metric(["idle"], float(pool.checkedin()))
            yield connections
        pending = GaugeMetricFamily(
            "pyshelf_download_counter_pending", "Files with download counts not yet written"
        )
        downloads = app.downloads
        pending.add_metric([], float(len(downloads.pending) + len(downloads.mirror_pending)))
        yield pending
        try:
            serial = app.state_reader.read()[0]
        except Exception:  # the database is down: pyshelf_up says so
            serial = None
        if serial is not None:
            yield GaugeMetricFamily(
                "pyshelf_serial", "The server's serial (committed write transactions)",
                value=float(serial),
            )
        yield GaugeMetricFamily(
            "pyshelf_start_time_seconds", "When this process started", value=app.started
        )
        info = GaugeMetricFamily(
            "pyshelf_build_info", "Versions of this process",
            labels=["version", "python", "database"],
        )
        info.add_metric(
            [__version__, platform.python_version(), app.engine.dialect.name], 1.0
        )
        yield info


class MetricsMiddleware:
    """Answers the probes (``health``), serves ``/+metrics`` and counts every other answer."""

    def __init__(self, app: Callable[..., Iterable[bytes]], state: Any) -> None:
        self.app = app
        self.state = state
        self.metrics: ServerMetrics | None = state.__dict__.get("metrics")
        self.token = state.settings.metrics_token
        # Callers (the command line, tests) reach the Pyramid registry through the app.
        self.registry = getattr(app, "registry", None)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/+") and path in PROBE_PATHS:
            if path == METRICS_PATH:
                if self.metrics is not None:
                    return self.serve(environ, start_response)
            else:
                return health.answer(self.state, environ, start_response)
        if self.metrics is None:
            return self.app(environ, start_response)
        answer: list[Any] = []

        def recording_start_response(status: str, headers: list[Any], *rest: Any) -> Any:
            answer.append(status)
            answer.append(headers)
            return start_response(status, headers, *rest)

        http = self.metrics.http
        started = perf_counter()
        http.start()
        try:
            body = self.app(environ, recording_start_response)
        except BaseException:
            self._record(environ, 500, None, perf_counter() - started)
            raise
        seconds = perf_counter() - started
        if not answer:  # the application answers while its body is read: not timed
            self._record(environ, 200, None, seconds)
            return body
        size = None
        if environ["REQUEST_METHOD"] != "HEAD":
            size = content_length(answer[-1])
        self._record(environ, int(answer[-2][:3]), size, seconds)
        return body

    def _record(self, environ: dict[str, Any], code: int, size: int | None,
                seconds: float) -> None:
        route = environ.get(ROUTE_KEY)
        method = environ.get("REQUEST_METHOD", "")
        if route is None:
            # Answered before Pyramid: a cached simple page (simple.fastpath).
            route = "simple.list" if environ.get("PATH_INFO", "").endswith("/+simple/") else (
                "simple.project"
            )
            self.metrics.http.finish(method, route, code, seconds, size)
            return
        self.metrics.request(method, route, code, seconds, size, environ)

    def serve(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _plain(start_response, "405 Method Not Allowed", b"GET or HEAD only\n",
                          [("Allow", "GET, HEAD")])
        if self.token:
            given = environ.get("HTTP_AUTHORIZATION", "")
            expected = "Bearer " + self.token
            if not hmac.compare_digest(given.encode("latin-1"), expected.encode("latin-1")):
                return _plain(
                    start_response, "401 Unauthorized",
                    b"/+metrics needs the bearer token given by --metrics-token\n",
                    [("WWW-Authenticate", 'Bearer realm="pyshelf metrics"')],
                )
        body = self.metrics.exposition()
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST),
                                  ("Content-Length", str(len(body))),
                                  ("Cache-Control", "no-store")])
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]


def content_length(headers: list[tuple[str, str]]) -> int | None:
    # WebOb and the fast path spell it so; any other spelling is looked for only after.
    for name, value in headers:
        if name == "Content-Length":
            return int(value)
    for name, value in headers:
        if name.lower() == "content-length":
            return int(value)
    return None


def _plain(start_response: Callable[..., Any], status: str, body: bytes,
           headers: list[tuple[str, str]]) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(body))), *headers])
    return [body]


def route_tween_factory(handler: Any, registry: Any) -> Any:
    """Tells the metrics middleware which route answered, and for uploads and file downloads,
    into which index."""

    def route_tween(request: Any) -> Any:
        try:
            return handler(request)
        finally:
            route = getattr(request, "matched_route", None)
            environ = request.environ
            environ[ROUTE_KEY] = route.name if route is not None else "none"
            matchdict = getattr(request, "matchdict", None) or {}
            if "index" in matchdict and "user" in matchdict:
                environ[ROUTE_KEY + ".index"] = f"{matchdict['user']}/{matchdict['index']}"
            if getattr(request, "is_upload", False):
                environ[ROUTE_KEY + ".upload"] = True

    return route_tween


def install(config: Any, app: Any) -> None:
    """Set up metrics for ``app`` (an ``AppState``) in the Pyramid ``config``."""
    if app.settings.metrics:
        app.metrics = ServerMetrics(app)
        config.add_tween(
            "pyshelf_server.metrics.route_tween_factory",
            over="pyramid.tweens.excview_tween_factory",
        )


def wrap(wsgi_app: Any, app: Any) -> MetricsMiddleware:
    return MetricsMiddleware(wsgi_app, app)
