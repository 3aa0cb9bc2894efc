"""Keys, encryption and the blob store: health data is only ever at rest encrypted (rule LC-8)."""
