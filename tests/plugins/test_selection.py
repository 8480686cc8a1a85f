"""``--plugins`` / ``PYSHELF_PLUGINS``: only the named installed plugins are loaded, an unknown
name stops the start, and ``--version``, ``/+api`` and ``/+status`` list what was loaded."""

from __future__ import annotations

import subprocess

import httpx

from pyshelf_server.testing import BIN


def test_unknown_plugin_name_is_a_clear_start_up_error(tmp_path):
    result = subprocess.run(
        [str(BIN / "pyshelf-server"), "--serverdir", str(tmp_path), "--plugins", "web,nosuch"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "no installed plugin is named nosuch" in result.stderr
    assert "installed: " in result.stderr and "lockdown" in result.stderr


def test_the_environment_selects_too_and_the_command_line_wins(tmp_path):
    def version(*args: str, env_plugins: str | None = None) -> list[str]:
        import os

        env = {k: v for k, v in os.environ.items() if k != "PYSHELF_PLUGINS"}
        if env_plugins is not None:
            env["PYSHELF_PLUGINS"] = env_plugins
        result = subprocess.run(
            [str(BIN / "pyshelf-server"), "--version", *args],
            capture_output=True, text=True, timeout=60, env=env, check=True,
        )  # fmt: skip
        return [line.split()[0] for line in result.stdout.splitlines()]

    everything = version()
    assert {"pyshelf-server", "pyshelf-web", "pyshelf-lockdown"} <= set(everything)
    assert version(env_plugins="lockdown") == ["pyshelf-server", "pyshelf-lockdown"]
    assert version("--plugins", "web", env_plugins="lockdown") == ["pyshelf-server", "pyshelf-web"]
    assert version("--plugins", "") == ["pyshelf-server"]


def test_api_and_status_list_exactly_the_loaded_plugins(make_live_server):
    locked = make_live_server("locked", plugins=["lockdown"])
    api = httpx.get(locked.url + "/+api").json()["result"]
    assert set(api["plugins"]) == {"pyshelf-lockdown"}
    status = locked.request("GET", "/+status").json()["result"]
    assert set(status["versioninfo"]) == {"pyshelf-server", "pyshelf-lockdown"}

    plain = make_live_server("plain", plugins=[])
    assert httpx.get(plain.url + "/+api").json()["result"]["plugins"] == {}


def test_a_plugin_not_loaded_leaves_no_trace(make_live_server):
    """Installed but not selected: no routes, no option keys, no lock."""
    server = make_live_server(plugins=[])
    server.create_index("root/dev")
    config = server.request("GET", "/root/dev", auth=None).json()["result"]
    assert "acl_read" not in config
    assert httpx.get(server.url + "/+logout").status_code == 404
    assert httpx.get(server.url + "/root/dev/+simple/").status_code == 200
    assert "uploadtrigger_jenkins" not in config
    for option in ("acl_read=alice", "uploadtrigger_jenkins=http://jenkins.example/"):
        refused = server.request("PATCH", "/root/dev", json=[option])
        assert refused.status_code == 400
    assert httpx.get(server.url + "/root/dev/+findlinks").status_code == 404
    no_type = server.request("PUT", "/root/c", json={"type": "constrained", "bases": "root/dev"})
    assert no_type.status_code == 400
