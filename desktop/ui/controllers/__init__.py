"""Per-screen controllers: they connect the engine to the widgets and carry out requests."""
