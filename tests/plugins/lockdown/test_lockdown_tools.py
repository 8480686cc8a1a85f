"""Real clients against a locked-down server: pip and uv with credentials in the index URL,
twine with its Basic login, the devpi client after ``devpi login``, and the HTML login form in
headless Chromium. Without credentials each of them is refused."""

from __future__ import annotations

import shutil
import tempfile

import pytest

from pyshelf_server.testing import LiveServer

from ...e2e.conftest import (
    BIN,
    build,
    isolated_env,
    pip_install_into,
    run,
    twine_upload,
    write_project,
)
from ...web.test_browser import CHROMIUM, FLAGS, _require_chromium

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("locked") / "server", plugins=["web", "lockdown"])
    live.start()
    live.create_user("alice", "alice-pw")
    live.create_index("alice/dev", auth=("alice", "alice-pw"))
    yield live
    live.stop()


@pytest.fixture
def env(tmp_path):
    return isolated_env(tmp_path)


def with_credentials(url: str, user: str, password: str) -> str:
    return url.replace("http://", f"http://{user}:{password}@", 1)


def test_twine_pip_and_uv_authenticate_and_anonymous_installs_fail(locked, tmp_path, env):
    dist = build(write_project(tmp_path, "locked-tool-pkg", "1.0"), env)
    twine_upload(f"{locked.url}/alice/dev/", "alice", "alice-pw", dist, env)

    simple = f"{locked.url}/alice/dev/+simple/"
    target = tmp_path / "pip-target"
    pip_install_into(target, with_credentials(simple, "alice", "alice-pw"), "locked-tool-pkg", env)
    assert (target / "locked_tool_pkg" / "__init__.py").exists()
    anonymous = run(
        [str(BIN / "python"), "-m", "pip", "install", "--no-deps", "--no-input", "--target",
         str(tmp_path / "anon"), "--index-url", simple, "locked-tool-pkg"],
        env=env, check=False,
    )  # fmt: skip
    assert anonymous.returncode != 0

    venv = tmp_path / "uv-venv"
    run([str(BIN / "uv"), "venv", str(venv)], env=env)
    uv_install = [str(BIN / "uv"), "pip", "install", "--python", str(venv / "bin" / "python")]
    run([*uv_install, "--index-url", with_credentials(simple, "alice", "alice-pw"),
         "locked-tool-pkg==1.0"], env=env)  # fmt: skip
    assert list((venv / "lib").glob("python*/site-packages/locked_tool_pkg/__init__.py"))
    refused = run([*uv_install, "--reinstall", "--index-url", simple, "locked-tool-pkg==1.0"],
                  env=env, check=False)  # fmt: skip
    assert refused.returncode != 0


def test_the_devpi_client_logs_in_and_reads(locked, tmp_path, env):
    def devpi(*args, check=True):
        return run([str(BIN / "devpi"), "--clientdir", str(tmp_path / "client"), *args],
                   env=env, cwd=tmp_path, check=check)  # fmt: skip

    devpi("use", locked.url)
    refused = devpi("getjson", "/alice/dev", check=False)
    assert refused.returncode != 0
    assert "403" in refused.stdout + refused.stderr
    devpi("login", "alice", "--password", "alice-pw")
    devpi("use", "alice/dev")
    assert '"type": "stage"' in devpi("getjson", "/alice/dev").stdout


def test_the_login_form_in_chromium(locked):
    _require_chromium()
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="pyshelf-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=str(CHROMIUM), headless=True, args=FLAGS
            )
            page = context.new_page()
            page.goto(locked.url + "/alice/dev")
            assert "/+login?goto_url=%2Falice%2Fdev" in page.url
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "wrong")
            page.click("button[type=submit]")
            assert "wrong username or password" in page.content()
            page.fill("input[name=password]", "alice-pw")
            page.click("button[type=submit]")
            page.wait_for_url(locked.url + "/alice/dev")
            assert "alice/dev" in page.title() or "alice/dev" in page.content()
            cookies = {c["name"]: c for c in context.cookies()}
            assert cookies["auth_tkt"]["httpOnly"] and cookies["auth_tkt"]["sameSite"] == "Lax"
            assert page.evaluate("document.cookie").find("auth_tkt") == -1
            page.goto(locked.url + "/+logout")
            assert "Logged in as" in page.content() and "alice" in page.content()
            page.click("button[type=submit]")
            page.goto(locked.url + "/alice/dev")
            assert "/+login" in page.url
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
