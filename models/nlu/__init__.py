"""Language understanding: a transcript read as an intent with slots, and spoken numbers."""
