"""Sphinx extension: mend the theme's and extensions' markup in the written pages.

WCAG 2.1 AA as axe-core checks it (tests/test_website.py) fails on markup that comes from
sphinx-book-theme 1.3 / pydata-sphinx-theme 0.17, myst-nb and sphinxcontrib-bibtex, not from
the course. Their templates are not ours to fork, so once the HTML and one-page builders have
written every page, each page is patched in place (plain string rewrites, each one specific
to the markup these pinned versions write; a version whose markup differs simply goes
unpatched, and the browser tests say so):

- the search buttons' ``aria-label="Search"`` hid their visible text ("Search Ctrl+K");
- the colour-mode switch's icons had titles that did not match its name;
- the left sidebar's expand toggles (an icon in a ``<summary>``) had no name;
- the left sidebar (the book's logo and contents) was outside any landmark;
- myst-nb's "Show code cell source" toggles were all named "Toggle hidden content";
- the bibliography used ``role="list"`` around links and the deprecated ``doc-biblioentry``;
- sphinx-thebe's configuration ``<script>`` appeared twice (a console error on every page),
  and a first visit, with no colour mode stored yet, logged "Got invalid theme mode" (the
  page now starts in "auto", the reader's system setting; sphinx-book-theme rejects the
  theme's ``default_mode`` option that would say so);
- heading permalinks ("#") were Tab stops, one per heading, before the content a keyboard
  user is after (they stay links for the mouse; the page's contents list links every heading);
- a page with an interactive figure gets a second skip link, "Skip to the interactive
  figure", beside "Skip to main content";
- the download menu's ".pdf" printed the page; when the book's PDF has been built
  (``scripts/build_pdf.py`` writes ``_build/pdf/book.pdf``) it is copied into the site and
  the button downloads it;
- the ".ipynb" download of a chapter is the notebook as executed for the book (with its
  outputs), not the source without them.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

LOGGER = logging.getLogger(__name__)
PDF_NAME = "book.pdf"
FIGURE_ID = "interactive-figure"
OUTPUT_NOTEBOOK_FOLDERS = ("chapters",)  # downloads with outputs; exercises stay blank

_SEARCH_LABEL = re.compile(
    r'(<button class="btn search-button-field[^"]*"[^>]*?) aria-label="Search"'
)
_THEME_ICON = re.compile(r'(<i class="theme-switch [^"]*" data-mode="\w+")\s+title="[^"]*"')
_SIDEBAR_SUMMARY = re.compile(
    r'(<a class="(?:current )?reference internal" href="[^"]*">([^<]+)</a>'
    r'<details(?: open="open")?>)<summary>'
)
_SIDEBAR = '<div id="pst-primary-sidebar" class="bd-sidebar-primary bd-sidebar"'
_THEBE = re.compile(r"<script>const THEBE_JS_URL = [^<]*</script>\n?")
_PDF_BUTTON = re.compile(
    r'<button onclick="window.print\(\)"\s*class="(btn btn-sm btn-download-pdf-button '
    r'dropdown-item)"\s*title="Print to PDF"(.*?)</button>',
    re.DOTALL,
)
_SKIP = (
    '<div id="pst-skip-link" class="skip-link d-print-none">'
    '<a href="#main-content">Skip to main content</a>'
)
_STEPPER = '<div class="nodelib-stepper" data-nodelib-stepper'


def _drop_repeats(pattern: re.Pattern[str], text: str) -> str:
    seen: set[str] = set()

    def keep_first(match: re.Match[str]) -> str:
        if match.group(0) in seen:
            return ""
        seen.add(match.group(0))
        return match.group(0)

    return pattern.sub(keep_first, text)


def _pdf_link(root: str) -> Any:
    def link(match: re.Match[str]) -> str:
        return (
            f'<a href="{root}{PDF_NAME}" class="{match.group(1)}" '
            f'title="The whole book as a PDF" download{match.group(2)}</a>'
        )

    return link


def patch_page(text: str, *, root: str, pdf: bool) -> str:
    """The page's HTML with the theme's markup mended (see the module docstring).

    Args:
        text: the HTML of one written page.
        root: the relative path from the page to the site's root ('' or '../').
        pdf: whether the book's PDF is in the site (the ".pdf" button then downloads it).
    """
    text = _SEARCH_LABEL.sub(r"\1", text)
    text = _THEME_ICON.sub(r'\1 aria-hidden="true"', text)
    text = _SIDEBAR_SUMMARY.sub(r'\1<summary aria-label="Pages under \2">', text)
    text = text.replace(_SIDEBAR, f'{_SIDEBAR} role="navigation" aria-label="Book"', 1)
    text = text.replace('<summary aria-label="Toggle hidden content">', "<summary>")
    text = text.replace('<div role="list" class="citation-list">', '<div class="citation-list">')
    text = text.replace(' role="doc-biblioentry"', "")
    text = _drop_repeats(_THEBE, text)
    text = text.replace(
        'localStorage.getItem("mode") || ""', 'localStorage.getItem("mode") || "auto"'
    )
    text = text.replace('<a class="headerlink" href=', '<a class="headerlink" tabindex="-1" href=')
    if _STEPPER in text:
        text = text.replace(
            _STEPPER,
            f'<div class="nodelib-stepper" id="{FIGURE_ID}" tabindex="-1" data-nodelib-stepper',
            1,
        )
        text = text.replace(
            _SKIP, f'{_SKIP}<a href="#{FIGURE_ID}">Skip to the interactive figure</a>', 1
        )
    if pdf:
        text = _PDF_BUTTON.sub(_pdf_link(root), text)
    return text


def _copy_pdf(app: Sphinx) -> bool:
    built = Path(app.outdir).parent / "pdf" / PDF_NAME
    if not built.is_file():
        LOGGER.info("no %s yet (scripts/build_pdf.py): the .pdf button prints the page", built)
        return False
    if Path(app.outdir) != built.parent:
        shutil.copyfile(built, Path(app.outdir) / PDF_NAME)
    return True


def _notebooks_with_outputs(app: Sphinx) -> None:
    # The executed notebooks live in the execution cache (myst-nb's jupyter_execute/ copies
    # hold no outputs): each source notebook is merged with its cached run.
    import nbformat
    from jupyter_cache import get_cache

    folder = getattr(app.config, "nb_execution_cache_path", "") or str(
        Path(app.outdir).parent / ".jupyter_cache"
    )
    if not Path(folder).is_dir():
        return
    cache = get_cache(folder)
    for part in OUTPUT_NOTEBOOK_FOLDERS:
        for target in (Path(app.outdir) / "_sources" / part).glob("*.ipynb"):
            source = Path(app.srcdir) / part / target.name
            if not source.is_file():
                continue
            try:
                _, merged = cache.merge_match_into_notebook(nbformat.read(source, as_version=4))
            except KeyError:  # not executed by this build's cache (execution off)
                LOGGER.info("%s: no executed copy in %s, offered without outputs", source, folder)
                continue
            nbformat.write(merged, target)


def _patch_site(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    pdf = app.builder.name == "html" and _copy_pdf(app)
    for page in outdir.rglob("*.html"):
        relative = page.relative_to(outdir)
        if relative.parts[0].startswith("_"):
            continue
        root = "../" * (len(relative.parts) - 1)
        text = page.read_text(encoding="utf-8")
        patched = patch_page(text, root=root, pdf=pdf)
        if patched != text:
            page.write_text(patched, encoding="utf-8")
    _notebooks_with_outputs(app)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("build-finished", _patch_site)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
