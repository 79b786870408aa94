"""Make every claim a chapter checks strict while the book is built.

`nodelib.course.book.claim` raises `ClaimError` when the environment variable ``NODELIB_CLAIMS`` is
``strict`` and only shows a note otherwise (a reader's run). Sphinx loads this extension
before myst-nb starts any kernel, and kernels inherit the builder's environment: so a
notebook whose text disagrees with its numbers fails the build, which ``-W`` and
``execute.raise_on_error`` turn into a non-zero exit.
"""

from __future__ import annotations

import os
from typing import Any


def setup(app: Any) -> dict[str, Any]:
    os.environ["NODELIB_CLAIMS"] = "strict"
    return {"parallel_read_safe": True, "parallel_write_safe": True}
