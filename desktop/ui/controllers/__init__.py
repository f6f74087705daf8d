"""Per-screen controllers: each connects the engine service it is handed to its widgets."""
