"""Let the one-page HTML builder draw every node the HTML builder can draw.

Sphinx looks up an extension's node handlers under the builder's name ("singlehtml") and only
falls back to its format ("html") when no extension registered anything under that name. Some
extensions of the book do register singlehtml handlers, so the fallback never happens and
sphinx-proof's nodes (registered for "html" only) stop `jupyter-book build --builder
singlehtml` (which scripts/build_pdf.py prints to PDF) with "unknown node type". This
extension copies every missing "html" handler to "singlehtml". No effect on other builders.
"""

from __future__ import annotations

from typing import Any


def _share_html_handlers(app: Any) -> None:
    handlers = app.registry.translation_handlers
    single = handlers.setdefault("singlehtml", {})
    for name, pair in handlers.get("html", {}).items():
        single.setdefault(name, pair)


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _share_html_handlers)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
