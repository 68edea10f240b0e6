"""Running the server: health, readiness, metrics, logs and the garbage collector."""
