"""A fictitious but realistic world to try Carnet with (`carnet demo`, loaded by `make run`)."""
