"""Where the bytes of files live."""
