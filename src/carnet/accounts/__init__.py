"""Holders' spaces and the people who act on them (professionals, operators)."""
