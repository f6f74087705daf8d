"""Benchmark scripts: each prints one JSON line of figures; ``--quick`` for a smoke run."""
