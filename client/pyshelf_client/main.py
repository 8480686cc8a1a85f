"""Entry point of the ``pyshelf`` command: builds the parser from the plugins and dispatches.

Exit codes, which CI scripts may rely on:
0 success; 1 the operation failed (server refusal, nothing matched); 2 bad command line;
3 the server cannot be reached or is not a pyshelf/devpi server; 130 interrupted.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pluggy

from . import __version__, commands, hookspecs
from .config import ClientDir, default_clientdir
from .errors import ClientError
from .hub import Hub

PROG = "pyshelf"
# argparse's words for a subcommand it does not know.
UNKNOWN_CHOICE = re.compile(r"argument COMMAND: invalid choice: '([^']*)' \(choose from (.*)\)$")


class ArgumentParser(argparse.ArgumentParser):
    """argparse, except that errors are one line on stderr, never a usage dump."""

    def error(self, message: str) -> NoReturn:
        unknown = UNKNOWN_CHOICE.match(message)
        if unknown is not None:
            given, choices = unknown.group(1), re.findall(r"'([^']*)'", unknown.group(2))
            near = difflib.get_close_matches(given, choices, n=1)
            message = f"unknown command {given!r}" + (
                f"; did you mean {near[0]!r}?" if near else f"; the commands: {', '.join(choices)}"
            )
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def get_pluginmanager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("pyshelf_client")
    pm.add_hookspecs(hookspecs)
    pm.register(commands, name="core")
    pm.load_setuptools_entrypoints("pyshelf_client")
    pm.check_pending()
    return pm


def load_subcommands(pm: pluggy.PluginManager) -> dict[str, ModuleType]:
    modules: dict[str, ModuleType] = {}
    # pluggy calls later-registered plugins first; reverse so plugins override the core.
    for names in reversed(pm.hook.pyshelf_client_subcommands()):
        for name in names:
            module = importlib.import_module(name)
            modules[module.COMMAND] = module
    return modules


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # The subparsers get the same options with SUPPRESS defaults, so `-y` and `--debug`
    # work before or after the subcommand (devpi users write `devpi remove -y SPEC`).
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--clientdir",
        type=Path,
        default=default(None),
        help="directory for the client state (default: $PYSHELF_CLIENTDIR or the user's "
        "config directory)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default(False),
        help="print each HTTP request and its status",
    )
    parser.add_argument(
        "-y",
        "--yes",
        dest="yes",
        action="store_true",
        default=default(False),
        help="assume yes to every confirmation question",
    )


def make_parser(subcommands: dict[str, ModuleType]) -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="Drive a pyshelf (or devpi) package index server.",
        epilog="exit codes: 0 ok, 1 operation failed, 2 bad command line, "
        "3 server unreachable or not a pyshelf/devpi server",
    )
    parser.add_argument("--version", action="version", version=f"pyshelf-client {__version__}")
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for name, module in subcommands.items():
        doc = (module.__doc__ or "").strip()
        summary = doc.splitlines()[0] if doc else name
        sp = sub.add_parser(
            name,
            help=summary,
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _global_options(sp, suppress=True)
        module.add_arguments(sp)
        sp.set_defaults(command_module=module)
    return parser


def split_passthrough(
    argv: list[str], subcommands: dict[str, ModuleType]
) -> tuple[list[str], list[str]]:
    """Cut off the arguments a passthrough command (``install``) hands to another tool.

    The command's own options must come first; from the first argument it does not know
    (or after ``--``) everything is passed on verbatim, so ``pyshelf install -r req.txt``
    reaches pip unchanged.
    """
    position = None
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg == "--clientdir":
            skip = True
            continue
        if not arg.startswith("-"):
            position = i
            break
    if position is None:
        return argv, []
    module = subcommands.get(argv[position])
    own_options = getattr(module, "PASSTHROUGH_OPTIONS", None)
    if own_options is None:
        return argv, []
    i = position + 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return argv[:i], argv[i + 1 :]
        name = arg.split("=", 1)[0]
        if name not in own_options:
            break
        i += 1 if "=" in arg or not own_options[name] else 2
    return argv[:i], argv[i:]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        pm = get_pluginmanager()
        subcommands = load_subcommands(pm)
        parser = make_parser(subcommands)
        argv, passthrough = split_passthrough(argv, subcommands)
        args = parser.parse_args(argv)
        module = getattr(args, "command_module", None)
        if module is None:
            parser.print_help(sys.stderr)
            return 2
        args.passthrough = passthrough
        hub = Hub(
            args=args,
            clientdir=ClientDir(args.clientdir or default_clientdir()),
            pluginmanager=pm,
        )
        try:
            result = module.main(hub, args)
        finally:
            hub.close()
        return int(result or 0)
    except ClientError as exc:
        print(f"{PROG}: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
