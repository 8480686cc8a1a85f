"""Full-text search: the Whoosh index and the thread that keeps it up to date."""
