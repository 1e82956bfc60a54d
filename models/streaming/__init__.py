"""The streaming engine: audio in chunks through a shared model with per-stream state, then each task's decisions."""
