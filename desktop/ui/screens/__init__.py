"""The app's screens as widgets: they show data and emit requests; controllers do the rest."""
