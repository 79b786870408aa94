"""Draw the course's interactive figures as stepped states while the book is built.

`nodelib.course.interactive.interactive_figure` shows live ipywidgets controls in a reader's kernel.
A static website has no kernel, so when the environment variable ``NODELIB_STATIC_FIGURES`` is
``1`` it draws every state the notebook lists and writes them into the page with plain HTML
controls, which ``_static/stepper.js`` switches. Sphinx loads this extension before myst-nb
starts any kernel, and kernels inherit the builder's environment. tests/conftest.py sets the
same variable, so the notebooks the tests execute into the book's cache match the build.
"""

from __future__ import annotations

import os
from typing import Any


def setup(app: Any) -> dict[str, Any]:
    os.environ["NODELIB_STATIC_FIGURES"] = "1"
    return {"parallel_read_safe": True, "parallel_write_safe": True}
