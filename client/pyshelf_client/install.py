"""run `pip install` against the current index

    pyshelf install [--venv DIR] [--index USER/INDEX] PIP_ARGS...

Everything after pyshelf's own options goes to pip unchanged (`pyshelf install -r
requirements.txt`). pip runs in --venv DIR, else in the active virtualenv ($VIRTUAL_ENV),
else in the Python running pyshelf. The index URL is passed in $PIP_INDEX_URL, with the
login token when logged in, so it never shows up in the process list.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from . import pipconfig
from .errors import UsageError
from .hub import Hub

COMMAND = "install"
# Options pyshelf itself takes after `install` (name -> takes a value); see main.split_passthrough.
PASSTHROUGH_OPTIONS = {
    "--venv": True,
    "--index": True,
    "--debug": False,
    "-y": False,
    "--yes": False,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--venv", type=Path, metavar="DIR", help="the virtualenv to install into")
    parser.add_argument("--index", metavar="USER/INDEX", help="install from this index instead")


def python_for(venv: Path | None) -> str:
    if venv is None and os.environ.get("VIRTUAL_ENV"):
        venv = Path(os.environ["VIRTUAL_ENV"])
    if venv is None:
        return sys.executable
    for candidate in (venv / "bin" / "python", venv / "Scripts" / "python.exe"):
        if candidate.exists():
            return str(candidate)
    raise UsageError(f"{venv} is not a virtualenv (no bin/python)")


def index_url_with_login(url: str, user: str, token: str) -> str:
    parts = urlsplit(url)
    netloc = f"{quote(user, safe='')}:{quote(token, safe='')}@{parts.netloc}"
    return urlunsplit(parts._replace(netloc=netloc))


def main(hub: Hub, args: argparse.Namespace) -> int:
    pip_args = list(args.passthrough)
    if not pip_args:
        raise UsageError("nothing to install: give pip arguments, e.g. pyshelf install NAME")
    ref = hub.index_ref(args.index)
    url = ref.simpleindex
    login = hub.login_for()
    if login is not None and url.startswith(hub.root):
        url = index_url_with_login(url, login.user, login.token)
    env = dict(os.environ)
    env["PIP_INDEX_URL"] = url
    trusted = pipconfig.needs_trusted_host(url)
    if trusted:
        env["PIP_TRUSTED_HOST"] = trusted
    cmd = [python_for(args.venv), "-m", "pip", "install", *pip_args]
    hub.line(f"installing from {ref.simpleindex}: {' '.join(pip_args)}")
    hub.debug(f"running {' '.join(cmd)}")
    return subprocess.call(cmd, env=env)
