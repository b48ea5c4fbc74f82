"""`python -m maskdet ...`: the same as the `maskdet` command."""

import sys

from maskdet.cli import main

sys.exit(main())
