"""maskdet.boxes is the one home of box geometry: the modules that use it no longer import one another."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("module", "not_loaded"),
    [
        ("maskdet.detector", "maskdet.eval.metrics"),
        ("maskdet.annotate", "maskdet.pipeline"),
        ("maskdet.boxes", "maskdet.detector"),
    ],
)
def test_importing_a_module_does_not_load_the_other(module, not_loaded):
    code = f"import sys, {module}; print({not_loaded!r} in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
