"""One-line error text for messages that wrap a library's exception (torch and onnx ones run to pages)."""

from __future__ import annotations


def brief(error: BaseException, limit: int = 240) -> str:
    """'TypeName: first line of the message', cut to `limit` characters."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
