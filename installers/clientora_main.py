"""The bundled program's entry point: the same ``clientora`` command as the wheel's."""

import sys

from desktop.cli import main

if __name__ == "__main__":
    sys.exit(main())
