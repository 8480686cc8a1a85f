"""The PEP 503/691 simple API: project lists and project pages for pip, uv and friends."""
