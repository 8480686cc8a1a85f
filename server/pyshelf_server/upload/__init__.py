"""The legacy upload protocol (twine, uv publish, devpi upload), docs and tox results."""
