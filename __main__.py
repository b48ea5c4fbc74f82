"""`python -m maskdet` run in the folder that holds a clone named `maskdet` lands here, not in the package.

There the current folder comes first on sys.path, so `maskdet` is the clone's top folder, an empty
namespace package (`maskdet.__file__ is None`): say so in one line instead of "No module named
maskdet.__main__". Anywhere else (`python .` in the clone) this is the `maskdet` command.
"""

import sys

import maskdet

if getattr(maskdet, "__file__", None) is None:
    sys.exit(
        f"maskdet: Python found the top folder of the maskdet clone ({next(iter(maskdet.__path__))}), not the package "
        "inside it, because it runs in the folder that holds the clone. Fix: cd maskdet, or run from any other folder."
    )

from maskdet.cli import main

sys.exit(main())
