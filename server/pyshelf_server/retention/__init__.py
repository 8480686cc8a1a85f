"""Retention rules: index options that delete old releases and evict unused mirrored files,
run by a scheduled job and by ``pyshelf-server --cleanup``."""
