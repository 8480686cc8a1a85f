"""The optional plugins keep to the plugin boundary as the web plugin does: only
``pyshelf_server.plugin_api`` and the hooks (see ``tests/web/test_plugin_boundary.py``)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from ..web.test_plugin_boundary import violations

PLUGINS_DIR = Path(__file__).resolve().parents[2] / "plugins"
NAMES = sorted(path.parent.name for path in PLUGINS_DIR.glob("*/pyproject.toml"))


def test_every_plugin_directory_is_checked():
    assert NAMES, "no plugins/*/pyproject.toml found"


@pytest.mark.parametrize("name", NAMES)
def test_plugin_uses_only_the_plugin_api(name):
    # Imported, not read from the tree: a plugin that is not installed fails here.
    package = importlib.import_module(f"pyshelf_{name}")
    root = Path(package.__file__).parent
    assert root.is_relative_to(PLUGINS_DIR / name)
    assert violations(root) == []
