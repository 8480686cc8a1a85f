"""404 answers that name the right URL, for requests that other tools' habits suggest:
pypiserver's ``/simple/`` and uploads to ``/`` (unless ``--default-index`` serves them), and an
index's ``+simple/`` URL (which the web UI shows) used to upload to or to ``use``."""

from __future__ import annotations

import re
from typing import Any

from .helpers import root_url

SIMPLE_URL = re.compile(r"^/([^+/][^/]*)/([^+/][^/]*)/\+simple(?:/.*)?$")
# At most this many index names in a message.
LISTED_INDEXES = 10


def visible_indexes(request: Any, *, uploadable: bool = False) -> list[str]:
    """The names of the indexes the request may see (sorted; only those taking uploads when
    ``uploadable``)."""
    from ..security import index_listed

    return sorted(
        info.fullname
        for info in request.shelf.snapshot.by_name.values()
        if index_listed(request, info) and not (uploadable and info.is_mirror)
    )


def index_list(names: list[str]) -> str:
    if not names:
        return "none yet"
    shown = ", ".join(names[:LISTED_INDEXES])
    hidden = len(names) - LISTED_INDEXES
    return shown + (f" and {hidden} more" if hidden > 0 else "")


def url_hint(request: Any) -> str | None:
    """The message for a 404 of ``request`` that names the URL meant, or None."""
    path = request.path_info
    root = root_url(request)
    default_index = request.registry.pyshelf.settings.default_index
    if not default_index and (path == "/simple" or path.startswith("/simple/")):
        names = visible_indexes(request)
        example = names[0] if names else "USER/INDEX"
        return (
            f"pyshelf serves each index at its own URL: {root}/USER/INDEX/+simple/ "
            f"(pip install --index-url {root}/{example}/+simple/ ...); indexes here: "
            f"{index_list(names)}. (A server started with --default-index USER/INDEX "
            "serves that index at /simple/ as pypiserver does.)"
        )
    if not default_index and path in ("", "/") and request.method == "POST":
        names = visible_indexes(request, uploadable=True)
        example = names[0] if names else "USER/INDEX"
        return (
            f"uploads go to an index's URL: {root}/USER/INDEX/ (twine upload "
            f"--repository-url {root}/{example}/ ...); indexes here: {index_list(names)}. "
            "(A server started with --default-index USER/INDEX takes uploads at / as "
            "pypiserver does.)"
        )
    match = SIMPLE_URL.match(path)
    if match is not None and (request.method == "POST" or path.endswith("/+simple/+api")):
        index = f"{root}/{match.group(1)}/{match.group(2)}/"
        what = "uploads go to" if request.method == "POST" else "use the index's URL"
        return (
            f"{root}/{match.group(1)}/{match.group(2)}/+simple/ is the index's page for "
            f"installers; {what} {index} instead"
        )
    return None
