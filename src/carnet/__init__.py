"""Carnet: a personal health record that every insured person controls."""

__version__ = "0.1.0"
