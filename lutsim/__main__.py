"""``python -m lutsim``: the same as the ``lutsim`` command."""

import sys

from lutsim.cli import main

if __name__ == "__main__":
    sys.exit(main())
