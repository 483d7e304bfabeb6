"""hw: see README."""
