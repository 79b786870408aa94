"""Draw the course's interactive figures as stepped states while the book is built.

`nodelib.course.interactive.interactive_figure` shows live ipywidgets controls in a reader's kernel.
A static website has no kernel, so when the environment variable ``NODELIB_STATIC_FIGURES`` is
``1`` it draws every state the notebook lists and writes them into the page with plain HTML
controls, which ``_static/stepper.js`` switches. Sphinx loads this extension before myst-nb
starts any kernel, and kernels inherit the builder's environment. tests/conftest.py sets the
same variable, so the notebooks the tests execute into the book's cache match the build.

The kernel can only hand the states over inside the cell's HTML, as PNG data URIs. Once the
pages are written, this extension moves every such image into a file of ``_images/`` (named
by its content) and points the page at it: the page shrinks by the images' size, the shown
image is cached like any other, and the others load only when a control shows them.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path
from typing import Any

_DATA_URI = re.compile(r'\b(src|data-src)="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _to_files(text: str, images: Path, root: str) -> str:
    def write(match: re.Match[str]) -> str:
        data = base64.b64decode(match.group(2))
        name = f"nodelib-{hashlib.sha256(data).hexdigest()[:20]}.png"
        path = images / name
        if not path.is_file():
            path.write_bytes(data)
        return f'{match.group(1)}="{root}_images/{name}"'

    return _DATA_URI.sub(write, text)


def _extract_images(app: Any, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    images = outdir / "_images"
    for page in outdir.rglob("*.html"):
        relative = page.relative_to(outdir)
        if relative.parts[0].startswith("_"):
            continue
        text = page.read_text(encoding="utf-8")
        if "data:image/png;base64," not in text:
            continue
        images.mkdir(exist_ok=True)
        root = "../" * (len(relative.parts) - 1)
        page.write_text(_to_files(text, images, root), encoding="utf-8")


def setup(app: Any) -> dict[str, Any]:
    os.environ["NODELIB_STATIC_FIGURES"] = "1"
    app.connect("build-finished", _extract_images)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
