"""Views shared by every feature: errors, JSON bodies, permission checks, URLs."""
