"""Sphinx extension: give every notebook output image a descriptive alt text.

myst-nb writes a figure that a code cell outputs (matplotlib's PNG, an IPython Image) as an
image with no alt text, and Sphinx's HTML writer then falls back to the file name
(``alt="../_images/6e98d2...png"``), which says nothing to a screen reader. The alt text comes,
in this order, from:

1. the author: a Markdown image's ``![alt](...)``, a figure's ``:alt:``, or a cell's metadata
   ``{"mystnb": {"image": {"alt": "..."}}}``;
2. the figure itself: a kernel that imported ``nodelib.course.book`` sends each figure's alt
   text (what it shows, in words, and the finding the notebook gave with
   ``describe(fig, "...")``) in the PNG output's metadata, which myst-nb ignores; this
   extension makes myst-nb's image renderer read it. An alt text without a finding gets the
   class ``nodelib-alt-no-finding``;
3. an image inside a figure with a caption (``{glue:figure}``, ``{figure}``): the caption;
4. the placeholder "Figure <k> on page “<page title>”", with the titles the cell's source sets
   (``set_title("...")``, ``title="..."``; plain string literals, TeX read as words), and the
   class ``nodelib-alt-placeholder``: tests/test_website.py lists these per page.

Markdown images without alt text outside notebook cells are left alone: the tests report them.
Registered in _config.yml under ``sphinx.local_extensions``.
"""

from __future__ import annotations

import re
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform

from nodelib.course.alt_text import tex_to_words

NO_FINDING = "nodelib-alt-no-finding"
PLACEHOLDER = "nodelib-alt-placeholder"

# A plain (not f-) string literal passed as a title in a code cell's source.
_TITLE = re.compile(
    r"""(?:set_title|suptitle|title)\s*[(=]\s*(?<![fF])(?P<q>["'])(?P<text>[^"'\n]{1,120})(?P=q)"""
)


def _cell_of(node: nodes.Node) -> nodes.Element | None:
    """The myst-nb code-cell container holding `node`, or None."""
    parent = node.parent
    while parent is not None:
        if isinstance(parent, nodes.container) and parent.get("nb_element") == "cell_code":
            return parent
        parent = parent.parent
    return None


def _caption_of(node: nodes.Node) -> str:
    """The caption text of the figure holding `node`, or ''."""
    parent = node.parent
    while parent is not None:
        if isinstance(parent, nodes.figure):
            caption = next(iter(parent.findall(nodes.caption)), None)
            return " ".join(caption.astext().split()) if caption is not None else ""
        parent = parent.parent
    return ""


def _cell_titles(cell: nodes.Element) -> list[str]:
    source = "\n".join(
        block.astext()
        for block in cell.findall(nodes.literal_block)
        if block.parent.get("nb_element") == "cell_code_source"
    )
    titles = (tex_to_words(m.group("text").strip()) for m in _TITLE.finditer(source))
    return list(dict.fromkeys(titles))


def _read_output_alt(render_image: Any) -> Any:
    """myst-nb's image renderer, also taking the alt text from the output's metadata."""

    def render(self: Any, data: Any) -> list[nodes.Element]:
        found = render_image(self, data)
        meta = data.output_metadata.get(data.mime_type, {})
        alt = meta.get("alt") if isinstance(meta, dict) else None
        for node in found:
            given = isinstance(node, nodes.image) and node.get("alt", "").strip()
            if isinstance(node, nodes.image) and not given and isinstance(alt, str) and alt.strip():
                node["alt"] = alt.strip()  # (the author's alt text wins)
                if not meta.get("alt_finding"):
                    node["classes"].append(NO_FINDING)
        return found

    render.nodelib_alt = True  # type: ignore[attr-defined]
    return render


class ImageAltText(SphinxPostTransform):
    """Fill in the alt text of images that have none (see the module docstring)."""

    default_priority = 900  # after myst-nb has pasted glued outputs

    def run(self, **kwargs: Any) -> None:
        docname = self.env.path2doc(self.document["source"]) or ""
        title_node = self.env.titles.get(docname)
        page = " ".join(title_node.astext().split()) if title_node is not None else docname
        count = 0
        for image in self.document.findall(nodes.image):
            cell = _cell_of(image)
            if cell is not None:
                count += 1
            if image.get("alt", "").strip():
                continue
            caption = _caption_of(image)
            if caption:
                image["alt"] = caption
            elif cell is not None:
                alt = f"Figure {count} on page “{page}”"
                titles = _cell_titles(cell)
                image["alt"] = f"{alt}: {'; '.join(titles)}" if titles else alt
                image["classes"].append(PLACEHOLDER)


def setup(app: Sphinx) -> dict[str, Any]:
    from myst_nb.core.render import NbElementRenderer

    if not getattr(NbElementRenderer.render_image, "nodelib_alt", False):
        NbElementRenderer.render_image = _read_output_alt(NbElementRenderer.render_image)
    app.add_post_transform(ImageAltText)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
