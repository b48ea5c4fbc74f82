"""`python app.py [--detector ...] [--classifier ...]`: the maskdet Gradio app and HTTP API.

The module-level `demo` makes `gradio app.py` (reload mode) work; there, set models through
MASKDET_DETECTOR / MASKDET_CLASSIFIER. Importing this file loads no model: the first request does.
The UI and handlers live in `maskdet/app.py`.
"""

from __future__ import annotations

import sys

from maskdet._env import configure_offline

configure_offline()  # before gradio is imported: no analytics, no hub look-ups

from maskdet.app import build_demo, launch_kwargs, parse_args  # noqa: E402

args = parse_args(sys.argv[1:] if __name__ == "__main__" else [])
demo = build_demo(args)

if __name__ == "__main__":
    demo.launch(**launch_kwargs(args))
