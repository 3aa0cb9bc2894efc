"""Small tools for the build (not used by the running service)."""
