"""The benchmark harness: `python -m bench` (see README.md, "Benchmarks", and docs/speed.md)."""
