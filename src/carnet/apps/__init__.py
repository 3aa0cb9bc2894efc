"""The catalogue of connected apps (SRV-3) and their OAuth2 / SMART on FHIR access (ACC-9)."""
