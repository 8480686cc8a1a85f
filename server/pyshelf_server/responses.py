"""JSON envelopes and errors as the devpi client expects them.

Every API answer is ``{"type": T, "result": R}`` (plus an optional ``message``) or
``{"message": M}``, pretty-printed, with ``Content-Type: application/json`` and no charset: the
devpi client shows error messages only when the header is exactly that.
"""

from __future__ import annotations

import json
from typing import Any

from pyramid.response import Response

JSON_CONTENT_TYPE = "application/json"


def dump_json(data: Any) -> bytes:
    # A lone surrogate (from a stored value or a message quoting bad input) cannot be UTF-8;
    # backslashreplace writes it as the JSON escape "\udxxx" instead of failing the answer.
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode(
        "utf-8", "backslashreplace"
    )


def json_response(data: Any, status: int = 200) -> Response:
    response = Response(body=dump_json(data), status=status)
    # Set the header directly: WebOb would otherwise append "; charset=UTF-8".
    response.headers["Content-Type"] = JSON_CONTENT_TYPE
    return response


def result(type_: str, result_: Any, *, message: str | None = None, status: int = 200) -> Response:
    body: dict[str, Any] = {"type": type_, "result": result_}
    if message is not None:
        body["message"] = message
    return json_response(body, status=status)


def message(text: str, status: int = 200) -> Response:
    return json_response({"message": text}, status=status)


class APIError(Exception):
    """An error answered as ``{"message": …}`` with ``status``.

    For legacy upload requests the message also travels in the reason phrase, as twine and the
    devpi client print that.
    """

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class IndexNotFound(APIError):
    """No index of that name; the answer lists the indexes the client can see."""

    def __init__(self, fullname: str) -> None:
        super().__init__(404, f"The index {fullname} could not be found.")
        self.fullname = fullname


_CONTROL_ESCAPES = {i: f"\\x{i:02x}" for i in (*range(32), 127)} | {
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
}


def one_line(text: str) -> str:
    """An error message as one line: control characters (from quoted input) escaped."""
    return text.strip().translate(_CONTROL_ESCAPES)


def reason_phrase(text: str) -> str:
    """A message squeezed into an HTTP reason phrase: one line, printable latin-1, bounded."""
    line = " ".join(text.split())
    line = line.encode("latin-1", "replace").decode("latin-1")
    return "".join(c if 32 <= ord(c) < 127 or ord(c) > 159 else "?" for c in line)[:300]
