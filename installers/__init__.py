"""Building the desktop app as an installable program (PyInstaller; see docs/packaging.md)."""
