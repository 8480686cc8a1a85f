"""Projects, versions and files of hosted indexes, and their JSON API."""
