"""Who is calling: principals, API bearer tokens, and (later) sessions and passwords."""
