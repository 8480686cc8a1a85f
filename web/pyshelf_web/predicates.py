"""Which requests get HTML: the ``html_wanted`` view predicate.

devpi-web's rule: a GET or HEAD whose ``Accept`` header does not ask for JSON (neither the API's
``application/json`` nor PEP 691's simple JSON), from something that is not an installer, is a
browser (or a person with curl) and gets a page. Everything else keeps the core's JSON and
simple answers on the same URLs. Views with this predicate have more predicates than the core's,
so Pyramid tries them first. The plugin's own forms are posted by browsers: their errors are
pages as well.
"""

from __future__ import annotations

from typing import Any

from pyshelf_server.plugin_api import (
    is_installer,
    is_upload_request,
    wants_api_json,
    wants_simple_json,
)

# The plugin's own forms: browsers post them, so their errors are pages too.
FORM_ROUTES = frozenset({"web.token.revoke", "web.version.yank"})


def wants_html(request: Any) -> bool:
    if request.method == "POST":
        route = request.matched_route.name if request.matched_route else None
        return route in FORM_ROUTES and not wants_api_json(request)
    if request.method not in ("GET", "HEAD"):
        return False
    if is_upload_request(request):
        return False
    return not (wants_api_json(request) or wants_simple_json(request) or is_installer(request))


class HtmlWanted:
    def __init__(self, value: bool, config: Any) -> None:
        self.value = bool(value)

    def text(self) -> str:
        return f"html_wanted = {self.value}"

    phash = text

    def __call__(self, context: Any, request: Any) -> bool:
        return wants_html(request) == self.value
