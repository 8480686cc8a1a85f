"""Backup, restore and moving in: ``pyshelf-export`` and ``pyshelf-import``.

The dump is devpi's export format (dump version 2, see ``export.py``), so that one importer
reads pyshelf's own exports and devpi-server's alike; pyshelf's extra facts ride along under
``pyshelf`` keys, which devpi ignores: a file's (yanked, uploader, upload time) in its
``entrymapping``, a stage's (``inherited_yanks``, ``versions_created``) in its index entry.
"""
