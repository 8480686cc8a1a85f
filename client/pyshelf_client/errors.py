"""The exceptions a command raises to stop with a one-line message and an exit code.

    ClientError           exit 1: the operation failed (the server refused it, nothing matched, ...)
    ├── UsageError        exit 2: the command line itself is wrong (bad option, malformed key=value,
    │                             no index in use)
    ├── ConnectionFailed  exit 3: the server cannot be reached or does not speak the protocol
    └── ServerError       exit 1: the server answered with an error status (status, message)

``main()`` catches them all, prints ``pyshelf: error: <message>`` to stderr and exits with the
code, so a CI script never sees a traceback for an expected failure.
"""

from __future__ import annotations


class ClientError(Exception):
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(ClientError):
    exit_code = 2


class ConnectionFailed(ClientError):
    exit_code = 3


class ServerError(ClientError):
    exit_code = 1

    def __init__(self, message: str, *, status: int, server_message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.server_message = server_message
