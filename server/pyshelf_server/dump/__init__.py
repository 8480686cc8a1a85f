"""Backup, restore and moving in: ``pyshelf-export`` and ``pyshelf-import``.

The dump is devpi's export format (dump version 2, see ``export.py``), so that one importer
reads pyshelf's own exports and devpi-server's alike; pyshelf's extra facts about a file
(yanked, uploader, upload time) ride along in its ``entrymapping`` under ``pyshelf``, which
devpi ignores.
"""
