"""The insurer's roster: reading, checking and loading it in bulk (rules ID-1, LC-1, LC-6…LC-8,
REP-1); `provision.provision` is the entry point, `cli` the commands."""
