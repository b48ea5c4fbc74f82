"""`python app.py [--detector ...] [--classifier ...]`: the maskdet Gradio app and HTTP API.

The module-level `demo` makes `gradio app.py` (reload mode) work; there, set models through
MASKDET_DETECTOR / MASKDET_CLASSIFIER and they load on the first request. Run as a script, the models
load before the server starts: a missing or corrupt one ends it at once with exit status 2 and a message
naming the file. The UI and handlers live in `maskdet/app/`.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from maskdet._env import private_gradio_dir

    # Uploads, outputs and this process's other temporary files in a folder of its own, deleted when it ends.
    # Only when serving: importing this file (tests, `gradio app.py`) leaves TMPDIR alone. Before gradio is
    # imported, which fixes its upload folder then.
    private_gradio_dir()

from maskdet.app import build_demo, parse_args, serve

args = parse_args(sys.argv[1:] if __name__ == "__main__" else [])
demo = build_demo(args)

if __name__ == "__main__":
    sys.exit(serve(demo, args))
