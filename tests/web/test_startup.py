"""The web plugin leaves templating and search out of the server start."""

from __future__ import annotations

from tests.server.test_startup import modules_after_start


def test_the_start_imports_neither_jinja2_nor_whoosh(tmp_path):
    modules = modules_after_start(tmp_path / "server", "pyshelf_web.main")
    assert "pyshelf_web" in modules
    assert not modules & {"jinja2", "whoosh"}
