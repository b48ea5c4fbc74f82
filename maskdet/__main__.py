"""`python -m maskdet ...`: the same as the `maskdet` command."""

from __future__ import annotations

import sys

from maskdet.cli import main

if __name__ == "__main__":
    sys.exit(main())
