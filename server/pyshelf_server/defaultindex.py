"""``--default-index USER/INDEX``: the URLs of a pypiserver, on one index.

pypiserver serves its packages at ``/simple/`` and takes uploads at ``/``; teams moving over
keep ``pip install --extra-index-url http://host:PORT/simple/`` and a ``~/.pypirc`` with
``repository: http://host:PORT`` unchanged. With the option, ``/simple/…`` answers as
``/USER/INDEX/+simple/…`` and ``POST /`` as ``POST /USER/INDEX/``. (Without it ``/simple`` is
the page of a user called "simple", as on devpi.) The links on those pages are the index's own,
relative ones, which resolve to the index's file URLs from ``/simple/<project>/`` too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


class DefaultIndex:
    def __init__(self, app: Callable[..., Iterable[bytes]], fullname: str) -> None:
        self.app = app
        self.prefix = "/" + fullname.strip("/")
        # Callers (the command line, tests) reach the Pyramid registry through the app.
        self.registry = getattr(app, "registry", None)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/simple" or path.startswith("/simple/"):
            environ["PATH_INFO"] = self.prefix + "/+simple" + (path[len("/simple"):] or "/")
        elif path in ("", "/") and environ.get("REQUEST_METHOD") == "POST":
            environ["PATH_INFO"] = self.prefix + "/"
        return self.app(environ, start_response)


def wrap(app: Any, fullname: str) -> Any:
    return DefaultIndex(app, fullname) if fullname else app
