"""Health history timeline, summary PDF and "download all my data" (issue 7, SRV-5)."""
