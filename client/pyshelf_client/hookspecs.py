"""The client's plugin hooks (pluggy project name ``pyshelf_client``).

Plugins register through the ``pyshelf_client`` entry-point group. The core registers its
own subcommands and its password prompt through these same hooks (see ``commands.py``).
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("pyshelf_client")
hookimpl = pluggy.HookimplMarker("pyshelf_client")


@hookspec
def pyshelf_client_subcommands() -> list[str]:
    """Return the dotted names of subcommand modules.

    Each module has ``COMMAND`` (the subcommand name), a docstring whose first line is the
    help text, ``add_arguments(parser)`` and ``main(hub, args)``; ``main`` returns an exit
    code or None for success. A later name replaces an earlier one with the same COMMAND.
    """


@hookspec(firstresult=True)
def pyshelf_client_get_password(url: str, username: str) -> str | None:
    """Return the password of *username* for the server at *url*, or None to pass.

    The core's implementation is ``trylast`` and prompts on the terminal, so a keyring
    plugin answers first.
    """
