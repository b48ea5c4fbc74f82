"""`python app.py [--detector ...] [--classifier ...]`: the maskdet Gradio app and HTTP API.

The module-level `demo` makes `gradio app.py` (reload mode) work; there, set models through
MASKDET_DETECTOR / MASKDET_CLASSIFIER and they load on the first request. Run as a script, the models
load before the server starts: a missing or corrupt one ends it at once with exit status 2 and a message
naming the file. The UI and handlers live in `maskdet/app/`.
"""

from __future__ import annotations

import sys

from maskdet._env import configure_offline, private_gradio_dir

configure_offline()  # before gradio is imported: no analytics, no hub look-ups
private_gradio_dir()  # uploads and outputs in a folder of this process's own, deleted when it ends

from maskdet.app import build_demo, parse_args, serve  # noqa: E402

args = parse_args(sys.argv[1:] if __name__ == "__main__" else [])
demo = build_demo(args)

if __name__ == "__main__":
    sys.exit(serve(demo, args))
