"""The version page's yank forms, against a real server: whoever may upload to the index yanks
and un-yanks a version or one file of it; a stage's yank of an inherited release is its own."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pyshelf_server.testing import basic_auth, make_sdist, make_wheel

OWNER = ("yanker", "yank-secret")
STRANGER = ("passerby", "passerby-secret")
HTML = {"Accept": "text/html"}
SIMPLE_JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


@pytest.fixture(scope="module")
def server(live_server: Any) -> Any:
    """The session's server with the two users of this module (each test its own index)."""
    live_server.create_user(*OWNER)
    live_server.create_user(*STRANGER)
    return live_server


def publish(server: Any, tmp_path: Any, fullname: str, project: str, version: str) -> list[str]:
    filenames = []
    for make in (make_wheel, make_sdist):
        filename, content = make(project, version)
        path = tmp_path / filename
        path.write_bytes(content)
        answer = server.upload(fullname, path, name=project, version=version, auth=OWNER)
        assert answer.status_code == 200, answer.text
        filenames.append(filename)
    return filenames


def post_form(
    server: Any,
    path: str,
    fields: dict[str, str],
    *,
    auth: tuple[str, str] | None = OWNER,
    origin: str | None = None,
) -> httpx.Response:
    headers = {**HTML, "Origin": server.url if origin is None else origin}
    if auth is not None:
        headers.update(basic_auth(*auth))
    return httpx.post(server.url + path, data=fields, headers=headers, timeout=60)


def yanked_files(server: Any, fullname: str, project: str) -> dict[str, Any]:
    answer = httpx.get(f"{server.url}/{fullname}/+simple/{project}/", headers=SIMPLE_JSON,
                       timeout=60)  # fmt: skip
    assert answer.status_code == 200, answer.text
    return {entry["filename"]: entry.get("yanked", False) for entry in answer.json()["files"]}


def version_page(server: Any, path: str, auth: tuple[str, str] | None = OWNER) -> str:
    headers = {**HTML, **(basic_auth(*auth) if auth else {})}
    answer = httpx.get(server.url + path, headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.text


def test_a_version_is_yanked_and_unyanked_through_the_form(server, tmp_path):
    server.create_index("yanker/hosted", auth=OWNER)
    wheel, sdist = publish(server, tmp_path, "yanker/hosted", "fancy", "1.0")
    page = version_page(server, "/yanker/hosted/fancy/1.0")
    assert 'action="' + server.url + '/yanker/hosted/fancy/1.0/+yank"' in page
    assert "Yank this version" in page and "Un-yank" not in page

    answer = post_form(server, "/yanker/hosted/fancy/1.0/+yank",
                       {"action": "yank", "reason": "  broken build  "})  # fmt: skip
    assert answer.status_code == 303, answer.text
    assert answer.headers["Location"] == server.url + "/yanker/hosted/fancy/1.0?yanked=1.0"
    assert yanked_files(server, "yanker/hosted", "fancy") == {
        wheel: "broken build",
        sdist: "broken build",
    }
    page = version_page(server, "/yanker/hosted/fancy/1.0?yanked=1.0")
    assert "1.0 was yanked." in page
    # The notice names only the version or its files, whatever a link puts in the query.
    assert "was yanked" not in version_page(server, "/yanker/hosted/fancy/1.0?yanked=Everything")
    assert "Un-yank this version" in page and "Yank this version" not in page

    answer = post_form(server, "/yanker/hosted/fancy/1.0/+yank", {"action": "unyank"})
    assert answer.status_code == 303, answer.text
    assert answer.headers["Location"].endswith("/yanker/hosted/fancy/1.0?unyanked=1.0")
    assert yanked_files(server, "yanker/hosted", "fancy") == {wheel: False, sdist: False}


def test_a_single_file_is_yanked_and_unyanked(server, tmp_path):
    server.create_index("yanker/single", auth=OWNER)
    wheel, sdist = publish(server, tmp_path, "yanker/single", "fancy", "2.0")
    answer = post_form(server, "/yanker/single/fancy/2.0/+yank",
                       {"action": "yank", "filename": wheel, "reason": ""})  # fmt: skip
    assert answer.status_code == 303, answer.text
    assert answer.headers["Location"].endswith(f"?yanked={wheel}")
    # An empty reason is no reason: the file is yanked without one.
    assert yanked_files(server, "yanker/single", "fancy") == {wheel: True, sdist: False}
    page = version_page(server, "/yanker/single/fancy/2.0")
    assert "Un-yank file" in page and "Yank file" in page and "Yank this version" in page

    answer = post_form(server, "/yanker/single/fancy/2.0/+yank",
                       {"action": "unyank", "filename": wheel})  # fmt: skip
    assert answer.status_code == 303, answer.text
    assert yanked_files(server, "yanker/single", "fancy") == {wheel: False, sdist: False}
    missing = post_form(server, "/yanker/single/fancy/2.0/+yank",
                        {"action": "yank", "filename": "fancy-9.9.tar.gz"})  # fmt: skip
    assert missing.status_code == 404 and "fancy-9.9.tar.gz" in missing.text


def test_a_stage_yanks_a_release_it_inherits_for_itself(server, tmp_path):
    server.create_index("yanker/base", auth=OWNER)
    server.create_index("yanker/stage", auth=OWNER, bases="yanker/base")
    wheel, sdist = publish(server, tmp_path, "yanker/base", "fancy", "3.0")
    page = version_page(server, "/yanker/stage/fancy/3.0")
    assert "A yank here is yanker/stage\N{RIGHT SINGLE QUOTATION MARK}s own" in page

    answer = post_form(server, "/yanker/stage/fancy/3.0/+yank",
                       {"action": "yank", "reason": "not for this stage"})  # fmt: skip
    assert answer.status_code == 303, answer.text
    assert yanked_files(server, "yanker/stage", "fancy") == {
        wheel: "not for this stage",
        sdist: "not for this stage",
    }
    assert yanked_files(server, "yanker/base", "fancy") == {wheel: False, sdist: False}
    assert "3.0 was yanked on yanker/stage." in version_page(
        server, "/yanker/stage/fancy/3.0?yanked=3.0"
    )

    # One file un-yanked: the other stays yanked, as in a hosted release.
    answer = post_form(server, "/yanker/stage/fancy/3.0/+yank",
                       {"action": "unyank", "filename": wheel})  # fmt: skip
    assert answer.status_code == 303, answer.text
    assert yanked_files(server, "yanker/stage", "fancy") == {
        wheel: False,
        sdist: "not for this stage",
    }
    answer = post_form(server, "/yanker/stage/fancy/3.0/+yank", {"action": "unyank"})
    assert answer.status_code == 303, answer.text
    assert yanked_files(server, "yanker/stage", "fancy") == {wheel: False, sdist: False}


def test_only_who_may_upload_sees_and_uses_the_form(server, tmp_path):
    server.create_index("yanker/guarded", auth=OWNER)
    wheel, sdist = publish(server, tmp_path, "yanker/guarded", "fancy", "4.0")
    path = "/yanker/guarded/fancy/4.0"
    assert "yank-form" in version_page(server, path)
    assert "yank-form" not in version_page(server, path, auth=None)
    assert "yank-form" not in version_page(server, path, auth=STRANGER)

    refused = post_form(server, path + "/+yank", {"action": "yank"}, auth=STRANGER)
    assert refused.status_code == 403, refused.text
    assert post_form(server, path + "/+yank", {"action": "yank"}, auth=None).status_code == 401
    # The owner's credentials sent along by a browser on another site's page do nothing.
    for origin in ("http://evil.example", ""):
        foreign = post_form(server, path + "/+yank", {"action": "yank"}, origin=origin)
        assert foreign.status_code == 403, foreign.text
    assert yanked_files(server, "yanker/guarded", "fancy") == {wheel: False, sdist: False}


def test_bad_form_input_is_a_clear_4xx(server, tmp_path):
    server.create_index("yanker/strict", auth=OWNER)
    wheel, sdist = publish(server, tmp_path, "yanker/strict", "fancy", "5.0")
    path = "/yanker/strict/fancy/5.0/+yank"
    bad_action = post_form(server, path, {"action": "delete"})
    assert bad_action.status_code == 400 and "yank" in bad_action.text
    # A browser posted the form, so the error is a page.
    assert bad_action.headers["Content-Type"].startswith("text/html")
    # The reason's limit is the API's (64 KiB); a body no form of ours sends is refused unread.
    long_reason = post_form(server, path, {"action": "yank", "reason": "x" * 70_000})
    assert long_reason.status_code == 400 and "reason" in long_reason.text
    huge = post_form(server, path, {"action": "yank", "reason": "x" * 2_000_000})
    assert huge.status_code == 413, huge.text
    no_version = post_form(server, "/yanker/strict/fancy/6.0/+yank", {"action": "yank"})
    assert no_version.status_code == 404, no_version.text
    assert yanked_files(server, "yanker/strict", "fancy") == {wheel: False, sdist: False}
