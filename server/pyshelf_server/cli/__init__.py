"""The ``pyshelf-init`` and ``pyshelf-server`` commands.

* ``options``: ``pyshelf-server``'s command line, the environment variables behind each
  option, and the settings they make;
* ``init``: ``pyshelf-init``, which creates (or joins) a server directory;
* ``serve``: ``pyshelf-server``, which checks what it was given and serves;
* ``maintenance``: the runs that do one job and exit (``--migrate``, ``--sweep-orphans``,
  ``--cleanup``);
* ``problems``: what the commands say when they cannot start, and how they stop.
"""
