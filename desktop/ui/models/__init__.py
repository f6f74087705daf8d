"""Qt item models over the core's typed rows (no I/O: controllers fill them)."""
