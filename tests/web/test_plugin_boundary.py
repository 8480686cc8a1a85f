"""The web plugin talks to the server only through ``pyshelf_server.plugin_api`` and the hooks:
no server models, services or request internals, so the server may change them freely."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pyshelf_web

WEB_ROOT = Path(pyshelf_web.__file__).parent
ALLOWED_MODULE = "pyshelf_server.plugin_api"
# From the package itself only the marker that implements hooks.
ALLOWED_FROM_PACKAGE = {"hookimpl"}
# The server's per-request state (``request.shelf``) and process state (``registry.pyshelf``);
# the plugin's own ``registry.pyshelf_web`` is a different attribute.
FORBIDDEN_ATTRIBUTES = {"shelf", "pyshelf", "db"}


def violations(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        where = path.relative_to(root)
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "pyshelf_server":
                        found.append(f"{where}:{node.lineno}: import {alias.name}")
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                module = node.module
                if module == "pyshelf_server":
                    extra = {a.name for a in node.names} - ALLOWED_FROM_PACKAGE
                    if extra:
                        found.append(f"{where}:{node.lineno}: from pyshelf_server import {extra}")
                elif module.startswith("pyshelf_server.") and module != ALLOWED_MODULE:
                    found.append(f"{where}:{node.lineno}: from {module} import …")
            elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
                found.append(f"{where}:{node.lineno}: .{node.attr}")
            elif isinstance(node, ast.Call) and _is_getattr_of(node, FORBIDDEN_ATTRIBUTES):
                found.append(f"{where}:{node.lineno}: getattr(…, {ast.unparse(node.args[1])})")
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.match(r"pyshelf_server\.(?!plugin_api\b)\w", node.value)
            ):
                # Dotted names Pyramid resolves (route factories, scans) reach in as well.
                found.append(f"{where}:{node.lineno}: {node.value!r}")
    for template in sorted(root.rglob("*.html")):
        for number, line in enumerate(template.read_text().splitlines(), 1):
            if re.search(r"\.(shelf|pyshelf|db)\b", line):
                found.append(f"{template.relative_to(root)}:{number}: {line.strip()}")
    return found


def _is_getattr_of(node: ast.Call, names: set[str]) -> bool:
    return (
        isinstance(node.func, ast.Name)
        and node.func.id == "getattr"
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
        and node.args[1].value in names
    )


def test_web_uses_only_the_plugin_api():
    assert violations(WEB_ROOT) == []


def test_the_check_finds_each_kind_of_reach_into_the_server(tmp_path):
    (tmp_path / "bad.py").write_text(
        "import pyshelf_server.db\n"
        "from pyshelf_server import hookimpl, __version__\n"
        "from pyshelf_server.packages.models import File\n"
        "from pyshelf_server.plugin_api import reader\n"
        "def view(request):\n"
        "    request.shelf.snapshot\n"
        "    request.registry.pyshelf.files\n"
        "    request.registry.pyshelf_web.search\n"
        "    getattr(request, 'db')\n"
        "    factory = 'pyshelf_server.resources.IndexContext'\n"
        "    allowed = 'pyshelf_server.plugin_api'\n"
    )
    (tmp_path / "page.html").write_text("{{ request.shelf.snapshot }}\n{{ links.root() }}\n")
    lines: dict[str, list[int]] = {}
    for entry in violations(tmp_path):
        name, number, _ = entry.split(":", 2)
        lines.setdefault(name, []).append(int(number))
    assert {name: sorted(found) for name, found in lines.items()} == {
        "bad.py": [1, 2, 3, 6, 7, 9, 10],
        "page.html": [1],
    }
