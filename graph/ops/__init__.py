"""Running the server: health, readiness, metrics and logs."""
