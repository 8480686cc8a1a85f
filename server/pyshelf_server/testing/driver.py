"""``Shelf``: a driver of the in-process application through WebTest, with verbs that read like
the devpi workflow (``shelf`` fixture)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .credentials import ROOT_PASSWORD, basic_auth


class Shelf:
    """A driver for functional tests: verbs that read like the devpi workflow."""

    def __init__(self, app: Any) -> None:
        import webtest

        self.app = app
        self.test = webtest.TestApp(app)

    def auth(self, user: str, password: str | None = None) -> dict[str, str]:
        return basic_auth(
            user, ROOT_PASSWORD if password is None and user == "root" else password or ""
        )

    def json(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        user: str | None = None,
        password: str | None = None,
        status: Any = None,
        **kw: Any,
    ) -> Any:
        headers = {"Accept": "application/json", **kw.pop("headers", {})}
        if user is not None:
            headers.update(self.auth(user, password))
        params = json.dumps(body).encode() if body is not None else b""
        if body is not None:
            headers["Content-Type"] = "application/json"
        answer = self.test.request(
            path,
            method=method,
            body=params,
            headers=headers,
            status=status,
            expect_errors=status is not None,
            **kw,
        )
        return checked_status(answer, status)

    def create_user(self, name: str, password: str = "secret", **fields: Any) -> Any:
        return self.json(
            "PUT", f"/{name}", {"password": password, **fields}, user="root", status=201
        )

    def create_index(
        self, fullname: str, *, user: str = "root", password: str | None = None, **options: Any
    ) -> Any:
        return self.json("PUT", f"/{fullname}", options, user=user, password=password, status=200)

    def upload(
        self,
        fullname: str,
        filename: str,
        content: bytes,
        *,
        name: str,
        version: str,
        user: str = "root",
        password: str | None = None,
        status: Any = 200,
        **fields: str,
    ) -> Any:
        form = [(":action", "file_upload"), ("name", name), ("version", version), *fields.items()]
        answer = self.test.post(
            f"/{fullname}/",
            form,
            upload_files=[("content", filename, content)],
            headers=self.auth(user, password),
            status=status,
            expect_errors=True,
        )
        return checked_status(answer, status)


def checked_status(answer: Any, status: Any) -> Any:
    """``answer`` when its status is ``status`` (an int, a list of them, or ``"*"``/None for
    any). webtest checks no status at all once errors are expected."""
    if status is None or status == "*":
        return answer
    wanted = list(status) if isinstance(status, list | tuple) else [status]
    assert answer.status_int in wanted or answer.status in wanted, (
        f"{answer.request.method} {answer.request.path_qs}: {answer.status}, not {status}\n"
        f"{answer.text[:500]}"
    )
    return answer


@pytest.fixture
def shelf(make_app: Any) -> Shelf:
    return Shelf(make_app())
