"""compiler: see README."""
