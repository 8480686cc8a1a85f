"""Server-level API: /+api, /+login, /+status and the list of users and indexes."""
