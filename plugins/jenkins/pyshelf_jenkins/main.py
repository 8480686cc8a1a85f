"""Index option ``uploadtrigger_jenkins`` (devpi-jenkins): after each successful release-file
upload, POST devpi-jenkins' build form to the URL. Unlike devpi, the POST is made by a
background thread after the upload has answered, so a slow or unreachable Jenkins never
delays or fails an upload; each trigger is tried a bounded number of times with backoff, and
the outcome is counted on ``/+status``.
"""

from __future__ import annotations

import json
import logging
import string
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from pyshelf_server import hookimpl
from pyshelf_server.plugin_api import (
    Option,
    OptionError,
    absolute_url,
    env_default,
    env_name,
    is_upload_request,
    normalize_name,
)

from . import __version__
from .jobscript import job_script

log = logging.getLogger("pyshelf_jenkins")

OPTION = "uploadtrigger_jenkins"
PLACEHOLDERS = frozenset({"pkgname", "pkgversion"})
USER_AGENT = f"pyshelf-jenkins/{__version__}"
MAX_PENDING = 1000


def trigger_url(key: str, value: Any) -> str | None:
    """None (no trigger), or an http(s) URL whose only placeholders are ``{pkgname}`` and
    ``{pkgversion}``."""
    if value in (None, "", "null", "None"):
        return None
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise OptionError(f"'{key}' must be an http or https URL, not {value!r}")
    try:
        fields = {name for _text, name, _spec, _conv in string.Formatter().parse(value) if name}
    except ValueError as error:
        raise OptionError(f"'{key}' is not a valid URL template: {error}") from None
    unknown = fields - PLACEHOLDERS
    if unknown:
        raise OptionError(
            f"'{key}' may use only the placeholders {{pkgname}} and {{pkgversion}}, "
            f"not {', '.join('{' + name + '}' for name in sorted(unknown))}"
        )
    return value


@hookimpl
def pyshelf_index_options(index_type: str) -> dict[str, Any] | None:
    if index_type == "mirror":
        return None
    return {OPTION: Option(trigger_url, default=lambda owner: None)}


@hookimpl
def pyshelf_add_parser_options(parser: Any) -> None:
    group = parser.add_argument_group("jenkins (pyshelf-jenkins)")
    for option, default, help in (
        ("--jenkins-timeout", 10.0, "seconds one trigger POST may take"),
        ("--jenkins-retries", 3, "further tries of a failed trigger"),
        ("--jenkins-backoff", 2.0, "seconds before the first retry, doubled for each next"),
        ("--jenkins-stop-wait", 10.0, "seconds the server waits at stop for unsent triggers"),
    ):
        group.add_argument(
            option,
            type=type(default),
            default=env_default(option, default),
            help=f"{help} [{env_name(option)}, default: %(default)s]",
        )


@dataclass(frozen=True)
class Trigger:
    url: str
    index: str
    project: str
    version: str
    script: str

    def form(self) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
        """devpi-jenkins' fields: the job takes its script as the file parameter."""
        data = {
            "Submit": "Build",
            "name": "jobscript.py",
            "json": json.dumps({"parameter": {"name": "jobscript.py", "file": "file0"}}),
        }
        return data, {"file0": ("file0", self.script.encode("utf-8"))}


class Triggers:
    """The queue of triggers and the one thread that sends them."""

    def __init__(self, *, timeout: float, retries: int, backoff: float, stop_wait: float) -> None:
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = max(0.0, backoff)
        self.stop_wait = stop_wait
        self.pending: deque[Trigger] = deque()
        self.lock = threading.Lock()
        self.wakeup = threading.Condition(self.lock)
        self.stopping = threading.Event()
        self.idle = threading.Event()
        self.idle.set()
        self.thread: threading.Thread | None = None
        self.in_flight: Trigger | None = None
        self.counts = {"sent": 0, "failed": 0, "retried": 0, "dropped": 0}
        self.last_error: str | None = None

    def add(self, trigger: Trigger) -> None:
        with self.lock:
            if self.stopping.is_set() or len(self.pending) >= MAX_PENDING:
                self.counts["dropped"] += 1
                log.warning("jenkins trigger for %s %s==%s dropped: %s", trigger.index,
                            trigger.project, trigger.version,
                            "the server is stopping" if self.stopping.is_set()
                            else f"{MAX_PENDING} triggers are waiting already")  # fmt: skip
                return
            self.pending.append(trigger)
            self.idle.clear()
            # Started on first use: applications built in-process never call server_start.
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._run, name="pyshelf-jenkins", daemon=True
                )
                self.thread.start()
            self.wakeup.notify()

    def status(self) -> dict[str, Any]:
        with self.lock:
            pending = len(self.pending) + (self.in_flight is not None)
            return {**self.counts, "pending": pending, "last_error": self.last_error}

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout, headers={"User-Agent": USER_AGENT}) as client:
            while True:
                with self.lock:
                    while not self.pending and not self.stopping.is_set():
                        self.idle.set()
                        self.wakeup.wait()
                    if not self.pending:
                        self.idle.set()
                        return
                    trigger = self.in_flight = self.pending.popleft()
                self._send(client, trigger)
                with self.lock:
                    self.in_flight = None

    def _send(self, client: httpx.Client, trigger: Trigger) -> None:
        data, files = trigger.form()
        for attempt in range(self.retries + 1):
            if attempt:
                with self.lock:
                    self.counts["retried"] += 1
                # Interrupted by stop(): the remaining tries are given up below.
                if self.stopping.wait(self.backoff * 2 ** (attempt - 1)):
                    break
            try:
                response = client.post(trigger.url, data=data, files=files)
            except httpx.HTTPError as error:
                problem = f"{type(error).__name__}: {error}"
            else:
                if response.is_success:
                    with self.lock:
                        self.counts["sent"] += 1
                    return
                problem = f"HTTP {response.status_code}"
            log.info("jenkins trigger %s failed (try %d): %s", trigger.url, attempt + 1, problem)
        with self.lock:
            self.counts["failed"] += 1
            self.last_error = f"{trigger.url}: {problem}"
        log.warning("jenkins trigger for %s %s==%s failed: %s", trigger.index,
                    trigger.project, trigger.version, problem)  # fmt: skip

    def stop(self) -> None:
        """Send what is waiting within ``stop_wait`` seconds; log each trigger still unsent
        then as dropped."""
        deadline = time.monotonic() + self.stop_wait
        self.idle.wait(self.stop_wait)
        with self.lock:
            self.stopping.set()
            self.wakeup.notify()
            unsent = list(self.pending)
            self.pending.clear()
            self.counts["dropped"] += len(unsent)
        for trigger in unsent:
            log.warning("jenkins trigger for %s %s==%s dropped at stop: %s", trigger.index,
                        trigger.project, trigger.version, trigger.url)  # fmt: skip
        if self.thread is not None:
            self.thread.join(max(0.0, deadline - time.monotonic()))
        with self.lock:
            left = self.in_flight
        if left is not None:
            log.warning("jenkins trigger for %s %s==%s still unanswered at stop: %s", left.index,
                        left.project, left.version, left.url)  # fmt: skip


def _triggers(request_or_registry: Any) -> Triggers:
    registry = getattr(request_or_registry, "registry", request_or_registry)
    return registry.pyshelf_jenkins  # type: ignore[no-any-return]


@hookimpl
def pyshelf_pyramid_configure(config: Any, settings: Any) -> None:
    options = settings.options
    config.registry.pyshelf_jenkins = Triggers(
        timeout=float(options.get("jenkins_timeout", 10.0)),
        retries=int(options.get("jenkins_retries", 3)),
        backoff=float(options.get("jenkins_backoff", 2.0)),
        stop_wait=float(options.get("jenkins_stop_wait", 10.0)),
    )


@hookimpl
def pyshelf_on_upload(request: Any, index: Any, project: str, version: str, file: Any) -> None:
    # Uploads only: a push stores release files too, but devpi-jenkins ignores pushes.
    url = index.option(OPTION, None)
    if not url or file.rel != "releasefile" or not is_upload_request(request):
        return
    index_url = absolute_url(request, index.fullname)
    trigger = Trigger(
        url=url.format(
            pkgname=quote(normalize_name(project), safe=""), pkgversion=quote(version, safe="")
        ),
        index=index.fullname,
        project=project,
        version=version,
        script=job_script(
            index_url=index_url, requirement=f"{project}=={version}", plugin_version=__version__
        ),
    )
    _triggers(request).add(trigger)


@hookimpl
def pyshelf_get_status_info(request: Any) -> dict[str, Any]:
    return {"jenkins_triggers": _triggers(request).status()}


@hookimpl
def pyshelf_server_stop(registry: Any) -> None:
    _triggers(registry).stop()

