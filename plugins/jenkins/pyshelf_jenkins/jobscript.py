"""The job script sent to Jenkins with each trigger (devpi-jenkins sends one that installs
devpi and runs ``devpi test``). This one needs only Python: it makes a virtual environment,
installs the uploaded release from the index it was uploaded to with pip, fetches its sdist
from the same index, and runs the sdist's tests with pytest."""

from __future__ import annotations

TEMPLATE = '''#!/usr/bin/env python3
# Tests {requirement!r} from {index_url!r}; written by pyshelf-jenkins {plugin_version}.

import glob
import os
import subprocess
import sys
import tarfile
import venv
import zipfile

INDEX_URL = {index_url!r}
SIMPLE_URL = {simple_url!r}
REQUIREMENT = {requirement!r}
WORKDIR = os.path.abspath("pyshelf-jenkins-job")


def run(*args, cwd=None):
    print("+", " ".join(args), flush=True)
    subprocess.run(args, check=True, cwd=cwd)


def main():
    os.makedirs(WORKDIR, exist_ok=True)
    env_dir = os.path.join(WORKDIR, "venv")
    venv.create(env_dir, with_pip=True, clear=True)
    python = os.path.join(env_dir, "Scripts" if os.name == "nt" else "bin", "python")
    pip = [python, "-m", "pip", "--disable-pip-version-check"]
    run(*pip, "install", "--index-url", SIMPLE_URL, REQUIREMENT, "pytest")
    sdists = os.path.join(WORKDIR, "sdist")
    run(*pip, "download", "--no-deps", "--no-binary", ":all:", "--index-url", SIMPLE_URL,
        "--dest", sdists, REQUIREMENT)
    for archive in glob.glob(os.path.join(sdists, "*")):
        if archive.endswith(".zip"):
            zipfile.ZipFile(archive).extractall(sdists)
        else:
            tarfile.open(archive).extractall(sdists, filter="data")
    sources = [path for path in glob.glob(os.path.join(sdists, "*")) if os.path.isdir(path)]
    if not sources:
        sys.exit("no sdist of " + REQUIREMENT + " on " + INDEX_URL + " to take the tests from")
    run(python, "-m", "pytest", cwd=sources[0])


if __name__ == "__main__":
    main()
'''


def job_script(*, index_url: str, requirement: str, plugin_version: str) -> str:
    """The script for ``requirement`` (``name==version``) on the index at ``index_url``."""
    return TEMPLATE.format(
        index_url=index_url,
        simple_url=index_url.rstrip("/") + "/+simple/",
        requirement=requirement,
        plugin_version=plugin_version,
    )
