"""Secure messaging between a holder's space and professionals (issue 8, rules SRV-1, ID-3)."""
