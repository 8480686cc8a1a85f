"""Indexes (devpi's stages): configuration, inheritance through bases, and their JSON API."""
