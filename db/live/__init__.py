"""Live data: the hint bus (in-process, Redis, NATS), shared feeds and expiry."""
