"""End-to-end: the ``pyshelf`` command against a real pyshelf server and a real devpi-server.

Every test runs against both (the ``server`` fixture is parametrised); each makes its own
user and indexes, because the servers are shared by the session.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e


def setup_user(cli, server, names, *, volatile_dev: bool = True) -> dict[str, str]:
    """Log in as root, create a user with a dev (volatile) and a prod (non-volatile) index,
    log in as that user and use the dev index."""
    user = names("u")
    password = "pw-" + user
    cli("use", server.url)
    cli("login", "root", "--password", server.root_password)
    cli("user", "-c", user, f"password={password}", f"email={user}@example.org")
    cli("login", user, "--password", password)
    cli("index", "-c", "dev", f"volatile={volatile_dev}")
    cli("index", "-c", "prod", "volatile=False")
    cli("use", f"{user}/dev")
    return {"user": user, "password": password, "dev": f"{user}/dev", "prod": f"{user}/prod"}


def test_use_login_logoff(cli, server, names):
    out = cli("use", server.url).stdout
    assert f"current server: {server.url}/ (not logged in)" in out
    assert "server-keyvalue-parsing" in out

    login = cli("login", "root", "--password", server.root_password)
    assert "logged in as root" in login.stdout

    auth = cli.clientdir / "auth.json"
    assert stat.S_IMODE(auth.stat().st_mode) == 0o600
    assert stat.S_IMODE((cli.clientdir / "current.json").stat().st_mode) == 0o600
    token = json.loads(auth.read_text())["logins"][server.url + "/"]["token"]
    assert token and token not in login.stdout + login.stderr

    index = names("ix")
    cli("index", "-c", index)
    out = cli("use", f"root/{index}").stdout
    assert "logged in as root" in out
    assert f"current index: root/{index}" in out
    assert f"pip index URL: {server.url}/root/{index}/+simple/" in out

    # A full index URL works as well as USER/INDEX.
    other = cli("use", f"{server.url}/root/{index}").stdout
    assert f"current index: root/{index}" in other

    urls = cli("use", "--urls").stdout
    assert f"simpleindex: {server.url}/root/{index}/+simple/" in urls
    assert f"pypisubmit: {server.url}/root/{index}/" in urls
    assert token not in urls

    listing = cli("use", "-l").stdout
    assert any(
        line.startswith(f"root/{index} ") and "volatile=True" in line
        for line in listing.splitlines()
    )

    assert "logged off root" in cli("logoff").stdout
    assert "not logged in" in cli("use").stdout
    assert server.url + "/" not in json.loads(auth.read_text())["logins"]

    # --delete forgets the server; commands needing an index then say so in one line.
    cli("use", "--delete")
    assert "no server in use" in cli("use").stdout
    assert "no index in use" in cli.fails("list", code=2).error_line


def test_wrong_password_and_debug(cli, server):
    cli("use", server.url)
    err = cli.fails("login", "root", "--password", "wrong").error_line
    assert "login failed" in err
    debug = cli("--debug", "use").stderr
    assert "> GET " + server.url + "/+api" in debug
    assert "< 200" in debug


def test_user_management(cli, server, names, make_cli):
    user = names("u")
    cli("use", server.url)
    cli("login", "root", "--password", server.root_password)
    created = cli("user", "-c", user, "password=secret1", "email=first@example.org")
    assert f"user {user} created" in created.stdout
    assert user in cli("user", "-l").stdout.split()
    assert "email=first@example.org" in cli("user", user).stdout

    cli("user", "-m", user, "email=second@example.org", "title=Tester")
    shown = cli("user", user).stdout
    assert "email=second@example.org" in shown and "title=Tester" in shown

    # The user changes their own password; piping it in works without a terminal.
    other = make_cli("other")
    other("use", server.url)
    other("login", user, "--password", "secret1")
    other("passwd", input="secret2\n")
    other("logoff")
    other.fails("login", user, "--password", "secret1")
    other("login", user, "--password", "secret2")
    assert f"{user}:" in other("user").stdout

    # Deleting asks first; "no" (or no answer at all) keeps the user.
    refused = cli.fails("user", "--delete", user, input="no\n")
    assert "not deleted" in refused.stderr
    assert user in cli("user", "-l").stdout.split()
    cli("user", "--delete", user, "-y")
    assert user not in cli("user", "-l").stdout.split()

    err = cli.fails("user", "-m", "root", "colour=red", code=2).error_line
    assert "unknown user option 'colour'" in err


def test_index_management(cli, server, names):
    ws = setup_user(cli, server, names)
    user = ws["user"]
    shown = cli(
        "index", "-c", "staging", f"bases={ws['prod']}", "volatile=False", f"acl_upload={user}"
    ).stdout
    assert f"{server.url}/{user}/staging:" in shown
    assert f"bases={ws['prod']}" in shown and "volatile=False" in shown

    modified = cli("index", f"{user}/staging", "bases+=" + ws["dev"], "title=Staging").stdout
    assert f"bases={ws['prod']},{ws['dev']}" in modified
    assert "title=Staging" in modified
    modified = cli("index", "-m", "staging", "bases-=" + ws["prod"]).stdout
    assert f"bases={ws['dev']}" in modified

    listed = cli("index", "-l").stdout.split()
    assert {ws["dev"], ws["prod"], f"{user}/staging"} <= set(listed)
    assert "type=stage" in cli("index").stdout  # the current index, dev

    err = cli.fails("index", "staging", "colour=red").error_line
    assert "400" in err and "colour" in err
    err = cli.fails("index", "staging", "colour", code=2).error_line
    assert "malformed argument 'colour'" in err

    # A non-volatile index cannot be deleted until it is made volatile.
    err = cli.fails("index", "--delete", "staging", "-y").error_line
    assert "403" in err
    cli("index", "staging", "volatile=True")
    cli("index", "--delete", "-y", "staging")
    assert f"{user}/staging" not in cli("index", "-l").stdout.split()


def test_upload_list_remove_on_volatile_index(cli, server, names, project_factory, tmp_path):
    ws = setup_user(cli, server, names)
    name = names("proj-")
    project = project_factory(name, "1.0", docs="html")

    out = cli("upload", "--no-isolation", "--with-docs", cwd=project).stdout
    assert f"uploaded {name.replace('-', '_')}-1.0-py3-none-any.whl" in out
    assert f"uploaded {name.replace('-', '_')}-1.0.tar.gz" in out
    assert f"uploaded {name}-1.0.doc.zip" in out
    assert "3 uploaded, 0 skipped" in out

    # A second version, built from the project directory given as PATH, wheel only.
    project2 = project_factory(name, "2.0", docs=None)
    out = cli("upload", "--no-isolation", "--formats", "wheel", str(project2)).stdout
    assert "1 uploaded" in out and ".tar.gz" not in out

    assert name in cli("list").stdout.split()
    newest = cli("list", name).stdout
    assert "-2.0-py3-none-any.whl" in newest and "-1.0" not in newest
    every = cli("list", name, "--all").stdout
    assert "-1.0.tar.gz" in every and "-2.0-py3-none-any.whl" in every
    assert f"{name}-1.0.doc.zip (documentation)" in every
    old = cli("list", f"{name}<2").stdout
    assert "-1.0-py3-none-any.whl" in old and "2.0" not in old
    assert "matches" in cli.fails("list", f"{name}>5").error_line
    assert "not found" in cli.fails("list", names("nothing-")).error_line

    # Files already on the index with the same sha256 are skipped.
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(project2)],
        check=True,
        capture_output=True,
        timeout=240,
    )
    first = cli("upload", "--from-dir", str(dist)).stdout
    assert "2 uploaded, 0 skipped" in first
    again = cli("upload", "--from-dir", str(dist)).stdout
    assert "0 uploaded, 2 skipped" in again

    # --dry-run touches nothing.
    dry = cli("upload", "--dry-run", "--no-isolation", cwd=project_factory(name, "3.0", docs=None))
    assert "would upload" in dry.stdout
    assert "3.0" not in cli("list", name, "--all").stdout

    removed = cli("remove", "-y", f"{name}==1.0")
    assert f"removed {name} 1.0" in removed.stdout
    assert "-1.0" not in cli("list", name, "--all").stdout
    cli("remove", "-y", name)
    assert name not in cli("list").stdout.split()
    assert ws["dev"]


def test_non_volatile_index_refuses_overwrite_and_remove(cli, server, names, project_factory):
    ws = setup_user(cli, server, names)
    name = names("nv-")
    project = project_factory(name, "1.0", docs=None)
    cli("upload", "--no-isolation", "--index", ws["prod"], cwd=project)

    # Rebuilding gives different bytes under the same file names: refused, with the
    # server's message, and a non-zero exit.
    (project / "src" / name.replace("-", "_") / "__init__.py").write_text("VERSION = 'changed'\n")
    refused = cli.fails("upload", "--no-isolation", "--index", ws["prod"], cwd=project)
    assert "409" in refused.stderr
    assert "refused" in refused.stderr

    err = cli.fails("remove", "-y", f"{name}==1.0", "--index", ws["prod"]).error_line
    assert "403" in err and "--force" in err
    assert "-1.0" in cli("list", name, "--index", ws["prod"]).stdout
    cli("remove", "-y", "--force", f"{name}==1.0", "--index", ws["prod"])
    cli.fails("list", name, "--index", ws["prod"])


def test_push_between_indexes(cli, server, names, project_factory):
    ws = setup_user(cli, server, names)
    name = names("push-")
    cli("upload", "--no-isolation", "--with-docs", cwd=project_factory(name, "1.0"))
    out = cli("push", f"{name}==1.0", ws["prod"]).stdout
    assert "store_releasefile" in out
    assert f"pushed {name} 1.0 from {ws['dev']} to {ws['prod']}" in out
    in_prod = cli("list", name, "--index", ws["prod"]).stdout
    assert f"{server.url}/{ws['prod']}/+f/" in in_prod
    assert ".whl" in in_prod and ".tar.gz" in in_prod and ".doc.zip" in in_prod

    # Pushing the same release again onto a non-volatile index is refused.
    cli.fails("push", f"{name}==1.0", ws["prod"])
    assert "NAME==VERSION" in cli.fails("push", name, ws["prod"], code=2).error_line
    cli.fails("push", f"{name}==9.9", ws["prod"])


def test_getjson_and_mirror_refresh(cli, server, names, project_factory):
    ws = setup_user(cli, server, names)
    name = names("gj-")
    cli("upload", "--no-isolation", cwd=project_factory(name, "1.0", docs=None))
    data = json.loads(cli("getjson", f"/{ws['dev']}").stdout)
    assert data["type"] == "indexconfig" and name in data["result"]["projects"]
    data = json.loads(cli("getjson", name).stdout)
    assert data["type"] == "projectconfig" and "1.0" in data["result"]
    cli.fails("getjson", "/nosuchuser-" + ws["user"])

    # A mirror of the user's own dev index: real mirroring without leaving the machine.
    # Root makes it: pyshelf lets only root pick upstreams (without --allow-user-mirrors).
    simple = f"{server.url}/{ws['dev']}/+simple/"
    created = httpx.put(
        f"{server.url}/{ws['user']}/mirror",
        json={"type": "mirror", "mirror_url": simple},
        auth=("root", server.root_password),
        headers={"Accept": "application/json"},
        timeout=30,
    )
    assert created.status_code == 200, created.text
    out = cli("refresh", name, "--index", f"{ws['user']}/mirror").stdout
    assert f"refreshed {name}" in out
    page = httpx.get(f"{server.url}/{ws['user']}/mirror/+simple/{name}/", timeout=30)
    assert page.status_code == 200 and ".whl" in page.text
    upload = cli.fails(
        "upload",
        "--no-isolation",
        "--index",
        f"{ws['user']}/mirror",
        cwd=project_factory(name, "1.1", docs=None),
    )
    assert "404" in upload.stderr or "mirror" in upload.stderr


def test_set_cfg_then_plain_pip_install(cli, server, names, project_factory, tmp_path):
    setup_user(cli, server, names)
    name = names("cfg-")
    cli("upload", "--no-isolation", cwd=project_factory(name, "1.0", docs=None))
    out = cli("use", "--set-cfg").stdout
    pip_conf = cli.home / ".config" / "pip" / "pip.conf"
    uv_toml = cli.home / ".config" / "uv" / "uv.toml"
    pypirc = cli.home / ".pypirc"
    for path in (pip_conf, uv_toml, pypirc):
        assert str(path) in out
    simple = f"{server.url}/{cli_index(cli)}/+simple/"
    assert f"index-url = {simple}" in pip_conf.read_text()
    assert simple in uv_toml.read_text()
    assert "[pyshelf]" in pypirc.read_text()
    assert "token" not in pypirc.read_text().lower()

    # With --always-set-cfg yes, switching the index rewrites the configuration.
    cli("index", "-c", "other")
    cli("use", "--always-set-cfg", "yes")
    out = cli("use", "other").stdout
    assert "wrote pip configuration" in out
    assert f"{cli_index(cli)}/+simple/" in pip_conf.read_text()
    assert cli_index(cli).endswith("/other")
    cli("use", "--always-set-cfg", "no")
    cli("use", "dev")
    assert "/other/+simple/" in pip_conf.read_text()
    cli("use", "--set-cfg")
    assert f"index-url = {simple}" in pip_conf.read_text()

    # Plain pip, in the user's environment: it finds the index through pip.conf alone.
    target = tmp_path / "target"
    env = dict(cli.env)
    env.pop("PIP_CONFIG_FILE", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), name],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert simple in proc.stdout
    assert (target / name.replace("-", "_") / "__init__.py").exists()

    # And uv through uv.toml.
    uv_target = tmp_path / "uv-target"
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "uv"),
            "pip",
            "install",
            "--no-deps",
            "--target",
            str(uv_target),
            "--python",
            sys.executable,
            name,
        ],
        env={**env, "UV_NO_CACHE": "1"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (uv_target / name.replace("-", "_") / "__init__.py").exists()


def test_pyshelf_install_runs_pip_with_the_index(cli, server, names, project_factory, tmp_path):
    setup_user(cli, server, names)
    name = names("inst-")
    cli("upload", "--no-isolation", cwd=project_factory(name, "1.0", docs=None))
    target = tmp_path / "target"
    env = {"PIP_CONFIG_FILE": os.devnull}
    out = cli("install", "--no-deps", "--target", str(target), name, env=env).stdout
    assert "Successfully installed" in out
    assert (target / name.replace("-", "_") / "__init__.py").exists()

    # pip's own options pass through unchanged, here a requirements file.
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"{name}==1.0\n")
    target2 = tmp_path / "target2"
    out = cli("install", "-r", str(requirements), "--no-deps", "--target", str(target2), env=env)
    assert (target2 / name.replace("-", "_") / "__init__.py").exists()
    assert "Successfully installed" in out.stdout
    cli.fails("install", "--no-deps", "--target", str(target2), names("missing-"), env=env)


def test_doc_zip_is_a_zip_of_the_html(cli, server, names, project_factory, tmp_path):
    setup_user(cli, server, names)
    name = names("doc-")
    cli("upload", "--no-isolation", "--only-docs", cwd=project_factory(name, "1.0"))
    listing = cli("list", name).stdout.strip().splitlines()
    assert len(listing) == 1 and listing[0].endswith(".doc.zip (documentation)")
    url = listing[0].split()[0]
    (tmp_path / "doc.zip").write_bytes(httpx.get(url, timeout=30).content)
    with zipfile.ZipFile(tmp_path / "doc.zip") as zf:
        assert zf.namelist() == ["index.html"]


def test_sphinx_docs(cli, server, names, project_factory, tmp_path):
    setup_user(cli, server, names)
    name = names("sphinx-")
    project = project_factory(name, "1.0", docs="sphinx")
    out = cli("upload", "--no-isolation", "--with-docs", cwd=project)
    assert f"uploaded {name}-1.0.doc.zip" in out.stdout
    lines = cli("list", name).stdout.splitlines()
    url = next(line for line in lines if ".doc.zip" in line).split()[0]
    (tmp_path / "doc.zip").write_bytes(httpx.get(url, timeout=30).content)
    with zipfile.ZipFile(tmp_path / "doc.zip") as zf:
        assert "index.html" in zf.namelist()


def test_expired_login_forces_a_new_login_and_large_upload_is_refused(
    cli, fresh_server, names, project_factory, tmp_path
):
    server = fresh_server
    ws = setup_user(cli, server, names)
    name = names("exp-")
    project = project_factory(name, "1.0", docs=None)
    cli("login", ws["user"], "--password", ws["password"])
    cli("upload", "--no-isolation", "--formats", "sdist", cwd=project)

    # Larger than the server's 10 kB limit: 413 with a message, non-zero exit.
    big = project_factory(name, "1.1", docs=None, payload=40000)
    refused = cli.fails("upload", "--no-isolation", "--formats", "sdist", cwd=big)
    assert "413" in refused.stderr

    server.expire_logins(cli.clientdir)
    out = cli("use")
    # pyshelf's short token is known to be expired locally; devpi's restarted server no
    # longer accepts the token. Either way the client says so and forgets the login.
    assert "expired" in out.stderr or "no longer valid" in out.stderr
    assert "not logged in" in out.stdout

    project2 = project_factory(name, "2.0", docs=None)
    refused = cli.fails("upload", "--no-isolation", "--formats", "sdist", cwd=project2)
    assert "401" in refused.stderr or "403" in refused.stderr
    assert "pyshelf login" in refused.stderr

    cli("login", ws["user"], "--password", ws["password"])
    out = cli("upload", "--no-isolation", "--formats", "sdist", cwd=project2).stdout
    assert "1 uploaded" in out


def cli_index(cli) -> str:
    state = json.loads((cli.clientdir / "current.json").read_text())
    return state["index"][len(state["root"]) :]


def test_list_failures_shows_tox_results(cli, server, names, project_factory):
    setup_user(cli, server, names)
    name = names("tox-")
    cli(
        "upload",
        "--no-isolation",
        "--formats",
        "wheel",
        cwd=project_factory(name, "1.0", docs=None),
    )
    file_url = cli("list", name).stdout.split()[0]
    toxresult = {
        "reportversion": "1",
        "host": "ci-runner",
        "platform": "linux",
        "testenvs": {
            "py311": {
                "setup": [{"command": ["pip", "install"], "retcode": "0", "output": ""}],
                "test": [{"command": ["pytest"], "retcode": "1", "output": "E   boom"}],
            }
        },
    }
    posted = httpx.post(
        file_url, json=toxresult, headers={"Accept": "application/json"}, timeout=30
    )
    assert posted.status_code == 200, posted.text
    out = cli("list", "-f", name).stdout
    assert "py311 ci-runner linux: tests FAILED" in out
    assert "E   boom" in out


def test_isolated_build_gets_its_backend_from_the_index(
    cli, server, names, project_factory, tmp_path
):
    """The default build (isolated, no --no-isolation) installs setuptools into its build
    environment; here pip finds it on the user's index, uploaded there as a plain file."""
    ws = setup_user(cli, server, names)
    wheels = tmp_path / "wheels"
    # Uses this machine's own pip configuration, like a user fetching a wheel would.
    download = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
         "--dest", str(wheels), "setuptools>=68"],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    if download.returncode != 0:
        pytest.skip(f"no package index reachable for setuptools: {download.stderr[-300:]}")
    (setuptools_wheel,) = wheels.glob("setuptools-*.whl")
    out = cli("upload", str(setuptools_wheel)).stdout
    assert f"uploaded {setuptools_wheel.name}" in out

    name = names("iso-")
    env = {
        "PIP_INDEX_URL": f"{server.url}/{ws['dev']}/+simple/",
        "PIP_CONFIG_FILE": os.devnull,
    }
    out = cli("upload", cwd=project_factory(name, "1.0", docs=None), env=env).stdout
    assert "2 uploaded" in out


def run_on_terminal(
    cli, args: list[str], answers: list[str], timeout: float = 120
) -> tuple[int, str]:
    """Run pyshelf on a pseudo-terminal, typing *answers* at each prompt; return the exit
    code and everything the terminal showed."""
    import pty
    import select
    import time

    from .conftest import PYSHELF

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(cli.cwd)
        os.execve(str(PYSHELF), [str(PYSHELF), *args], cli.env)
    shown = b""
    pending = list(answers)
    status = None
    deadline = time.monotonic() + timeout
    try:
        while status is None and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                shown += chunk
                if pending and shown.rstrip().endswith(b":"):
                    os.write(fd, pending.pop(0).encode() + b"\n")
                if chunk:
                    continue
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = raw
        if status is None:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise AssertionError(f"pyshelf {args} timed out on the terminal: {shown!r}")
    finally:
        os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def test_login_prompts_without_echo(cli, server):
    cli("use", server.url)
    code, shown = run_on_terminal(cli, ["login", "root"], [server.root_password])
    assert f"password for user root at {server.url}/" in shown
    assert server.root_password not in shown
    assert "logged in as root" in shown
    assert "logged in as root" in cli("use").stdout
    assert code == 0
