"""What a server start imports: heavy modules needed only by some requests stay out of it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pyshelf_server.testing import make_settings

# Builds the app the way ``pyshelf-server`` does (without listening), runs the start hook and
# prints the top-level modules imported by then.
STARTUP = """
import json, os, sys
from pyshelf_server.config import make_app
from pyshelf_server.plugins import make_plugin_manager
from pyshelf_server.settings import ServerSettings

plugins = [__import__(name, fromlist=["_"]) for name in sys.argv[2:]]
pm = make_plugin_manager(load_entry_points=False, extra=plugins)
app = make_app(ServerSettings(serverdir=sys.argv[1]), pm=pm)
pm.hook.pyshelf_server_start(registry=app.registry)
print(json.dumps(sorted({name.partition(".")[0] for name in sys.modules})), flush=True)
os._exit(0)
"""


def modules_after_start(serverdir: Path, *plugins: str) -> set[str]:
    make_settings(serverdir)
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", STARTUP, str(serverdir), *plugins],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_the_start_leaves_password_hashing_and_token_signing_for_later(tmp_path):
    modules = modules_after_start(tmp_path / "server")
    assert "pyramid" in modules  # the probe works
    assert not modules & {"passlib", "argon2", "itsdangerous"}
