pytest_plugins = ["pyshelf_server.testing"]
