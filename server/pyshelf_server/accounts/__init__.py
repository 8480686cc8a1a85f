"""Users: their records, passwords and the user part of the JSON API."""
