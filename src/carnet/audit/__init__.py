"""The tamper-evident audit log (rule ACC-8): hash chains per space, signed checkpoints."""
