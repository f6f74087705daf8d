"""The desktop app's Qt layer: models over the core, screens, and a controller per screen."""
