"""Who may do what. Deny by default: every route declares exactly one access rule."""
