"""One-line error text for messages that wrap a library's exception (torch and onnx ones run to pages)."""

from __future__ import annotations


def brief(error: BaseException, limit: int = 240) -> str:
    """'TypeName: first line of the message', cut to `limit` characters."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


INSTALL_FIX = 'pip install -e ".[{extra}]" in your maskdet clone'


class MissingExtra(ImportError, ValueError):
    """A feature needs a package that the default install leaves out; the message names the extra to install.

    Also a ValueError, so every entry point that reports a bad model or flag in one line reports this too.
    """


def require(module: str, feature: str, extra: str = "train"):
    """Import `module` or raise `MissingExtra` saying which extra brings it, e.g. for a .pt detector or training."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        package = module.split(".")[0]
        raise MissingExtra(
            f"{feature} needs {package}, which the default install leaves out: {INSTALL_FIX.format(extra=extra)}"
        ) from e
