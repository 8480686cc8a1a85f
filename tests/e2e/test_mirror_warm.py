"""`pyshelf mirror warm` with a real upstream on loopback: a mirror warmed from a requirements
file and from a uv lock file, then installed from by pip and uv with the upstream stopped."""

from __future__ import annotations

import threading
import time

import pytest

from pyshelf_server.testing import make_sdist, make_wheel

from .conftest import BIN, run
from .static_upstream import StaticIndex

pytestmark = pytest.mark.e2e


@pytest.fixture
def upstream(tmp_path):
    projects = {
        "warm-app": [make_wheel("warm-app", "1.0", requires_dist=["warm-lib>=2"])],
        "warm-lib": [make_wheel("warm-lib", "1.0"), make_wheel("warm-lib", "2.0"),
                     make_sdist("warm-lib", "2.0")],
        "warm-extra": [make_wheel("warm-extra", "1.0"), make_wheel("warm-extra", "2.0")],
    }
    index = StaticIndex(tmp_path / "upstream", projects)
    yield index
    index.stop()


def pyshelf(env, server, tmp_path, *args, check=True):
    env = {**env, "PYSHELF_CLIENTDIR": str(tmp_path / "clientdir")}
    run([str(BIN / "pyshelf"), "use", f"{server.url}/root/pypi"], env=env)
    run([str(BIN / "pyshelf"), "login", "root", "--password", server.root_password], env=env)
    return run([str(BIN / "pyshelf"), *args], env=env, cwd=tmp_path, check=check)


def fetched(upstream):
    return sorted(p.rsplit("/", 1)[1] for p in upstream.requests if p.startswith("/files/"))


def go_offline(server, upstream):
    """Every cached page expired and upstream gone: only what the mirror holds is there."""
    response = server.request("PATCH", "/root/pypi", json=["mirror_cache_expiry=0"])
    assert response.status_code == 200, response.text
    upstream.stop()


def test_warm_from_requirements_then_pip_installs_with_upstream_stopped(
    make_live_server, upstream, tmp_path, env
):
    server = make_live_server(init_args=["--mirror-url", upstream.url])
    (tmp_path / "base.txt").write_text("warm-lib>=2  # the library\n")
    (tmp_path / "requirements.txt").write_text(
        "-r base.txt\n"
        "warm-app==1.0 ; python_version >= '3'\n"
        "never-published==1.0\n"
        "warm-lib<0.5 ; sys_platform == 'win32'\n"
    )
    result = pyshelf(env, server, tmp_path, "mirror", "warm", "-r", "requirements.txt",
                     check=False)
    # What could not be fetched is reported, and the exit code says so.
    assert result.returncode == 1, result.stderr
    assert "files fetched 1, already cached 0, not fetched 2" in result.stdout
    assert "not fetched: never-published: no such project upstream" in result.stdout
    # Markers are ignored (every platform is warmed); specifiers of one project add up, so
    # warm-lib>=2,<0.5 admits nothing: reported too.
    assert "not fetched: warm-lib: no file on upstream's page matches" in result.stdout
    (tmp_path / "requirements.txt").write_text("warm-app==1.0\nwarm-lib>=2\n")
    result = pyshelf(env, server, tmp_path, "mirror", "warm", "-r", "requirements.txt")
    assert "files fetched 2, already cached 1, not fetched 0" in result.stdout
    # Every file of the admitted versions (the sdist too), not the older one.
    assert fetched(upstream) == ["warm_app-1.0-py3-none-any.whl",
                                 "warm_lib-2.0-py3-none-any.whl", "warm_lib-2.0.tar.gz"]

    go_offline(server, upstream)
    run([str(BIN / "python"), "-m", "pip", "install", "--target", str(tmp_path / "site"),
         "--index-url", f"{server.url}/root/pypi/+simple/", "warm-app"], env=env, timeout=120)
    assert (tmp_path / "site" / "warm_lib" / "__init__.py").read_text() == "__version__ = '2.0'\n"


def test_warm_from_a_uv_lock_then_uv_installs_with_upstream_stopped(
    make_live_server, upstream, tmp_path, env
):
    server = make_live_server(init_args=["--mirror-url", upstream.url])
    project = tmp_path / "app"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "locked-app"\nversion = "0.1"\nrequires-python = ">=3.8"\n'
        'dependencies = ["warm-app", "warm-extra<2"]\n'
    )
    # Locked against upstream itself: the mirror sees only what the warming asks for.
    run([str(BIN / "uv"), "lock", "--directory", str(project), "--index-url", upstream.url],
        env=env)
    upstream.requests.clear()
    result = pyshelf(env, server, tmp_path, "mirror", "warm", "--uv-lock",
                     str(project / "uv.lock"))
    assert "files fetched 4, already cached 0, not fetched 0" in result.stdout
    # Exactly the files the lock pins: not warm-extra 2.0, nor warm-lib 1.0.
    assert fetched(upstream) == ["warm_app-1.0-py3-none-any.whl",
                                 "warm_extra-1.0-py3-none-any.whl",
                                 "warm_lib-2.0-py3-none-any.whl", "warm_lib-2.0.tar.gz"]
    # The same lock as PEP 751 names the same files.
    run([str(BIN / "uv"), "export", "--directory", str(project), "--format", "pylock.toml",
         "--output-file", str(project / "pylock.toml"), "--index-url", upstream.url], env=env)
    result = pyshelf(env, server, tmp_path, "mirror", "warm", "--pylock",
                     str(project / "pylock.toml"))
    assert "files fetched 0, already cached 4, not fetched 0" in result.stdout

    go_offline(server, upstream)
    venv = tmp_path / "venv"
    run([str(BIN / "uv"), "venv", str(venv)], env=env)
    run([str(BIN / "uv"), "pip", "install", "--python", str(venv / "bin" / "python"),
         "--index-url", f"{server.url}/root/pypi/+simple/", "warm-app", "warm-extra<2"],
        env=env)
    site = next((venv / "lib").glob("python*/site-packages"))
    assert (site / "warm_extra" / "__init__.py").read_text() == "__version__ = '1.0'\n"
    assert (site / "warm_lib" / "__init__.py").read_text() == "__version__ = '2.0'\n"


def test_writes_go_on_while_a_warming_waits_on_upstream(make_live_server, tmp_path):
    slow = StaticIndex(tmp_path / "slow", {"slow-lib": [make_wheel("slow-lib", "1.0")]},
                       delay=5.0)
    try:
        server = make_live_server(init_args=["--mirror-url", slow.url])
        server.create_index("root/dev")
        answers = []
        warming = threading.Thread(target=lambda: answers.append(server.request(
            "POST", "/root/pypi/+warm",
            json={"projects": [{"name": "slow-lib", "specifier": ""}]},
        )))
        warming.start()
        deadline = time.monotonic() + 30
        while "/simple/slow-lib/" not in slow.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        filename, content = make_wheel("busy", "1.0")
        (tmp_path / filename).write_bytes(content)
        assert server.upload("root/dev", tmp_path / filename, name="busy",
                             version="1.0").status_code == 200
        # The upload did not wait for the warming (which waits on upstream's slow page).
        assert warming.is_alive()
        warming.join(timeout=60)
        assert answers[0].json()["result"]["fetched"] == ["slow_lib-1.0-py3-none-any.whl"]
    finally:
        slow.stop()
