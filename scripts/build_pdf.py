"""Build a PDF of the book with Debian's Chromium: Jupyter Book's one-page HTML, printed.

    .venv/bin/python scripts/build_pdf.py            # -> _build/pdf/book.pdf

It runs ``jupyter-book build . --builder singlehtml`` (notebooks from the execution cache,
``_build/.jupyter_cache``, executed first if they are not there), serves ``_build/singlehtml``
on localhost, opens it in headless Chromium (``/usr/bin/chromium``, or ``$CHROMIUM``; apt-get
install chromium) with Playwright, waits for MathJax to typeset the math, and prints it to A4.
This is what Jupyter Book's ``--builder pdfhtml`` does, without pyppeteer's browser download.
(``--builder pdflatex`` does not work with Debian's TeX Live short of texlive-fonts-extra: its
LaTeX class needs ``bbm.sty``; see the README.) Printing opens every folded hint and
solution and keeps tables within the page (``_static/course.css``'s print rules).

The website's download menu offers this PDF (".pdf"): the HTML build copies
``_build/pdf/book.pdf`` into the site when it exists (``_ext/accessible_theme.py``), so run this
script before ``jupyter-book build``. tests/test_website.py does, and checks the button.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _website import launch_browser, serve  # noqa: E402  (the test helpers: same browser set-up)

SINGLE = ROOT / "_build" / "singlehtml"
LOAD_TIMEOUT_MS = 600_000
# Hide the website's navigation in print; show code and outputs in full.
PRINT_CSS = """
.bd-header, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-header-article, .prev-next-area,
.bd-footer, .bd-footer-content, .headerlink, .toggle-button { display: none !important; }
.bd-main .bd-content .bd-article-container { max-width: 100% !important; }
pre { white-space: pre-wrap !important; }
article section > h1 { break-before: page; }
.admonition.toggle-hidden .admonition-title ~ * {
  height: auto !important; opacity: 1 !important; visibility: visible !important;
}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "_build" / "pdf" / "book.pdf")
    parser.add_argument("--no-build", action="store_true", help="print the existing build")
    args = parser.parse_args()
    if not args.no_build:
        jb = Path(sys.executable).parent / "jupyter-book"
        command = [str(jb if jb.exists() else "jupyter-book"), "build", ".", "--builder"]
        subprocess.run([*command, "singlehtml"], cwd=ROOT, check=True)
    start = time.perf_counter()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with serve(SINGLE) as base, launch_browser() as browser:
        page = browser.new_page()
        # The one page holds the whole book (every formula, every image): on a busy machine
        # it loads and typesets in minutes, not Playwright's default 30 s.
        page.set_default_timeout(LOAD_TIMEOUT_MS)
        page.goto(base + "intro.html", wait_until="load")
        page.evaluate(
            "async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }"
        )
        page.add_style_tag(content=PRINT_CSS)
        page.emulate_media(media="print")
        page.pdf(
            path=str(args.output),
            format="A4",
            print_background=True,
            margin={"top": "18mm", "bottom": "18mm", "left": "15mm", "right": "15mm"},
            display_header_footer=True,
            header_template="<span></span>",
            footer_template=(
                '<div style="font-size:8px;width:100%;text-align:center">'
                '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'
            ),
        )
    size = args.output.stat().st_size / 1e6
    print(f"{args.output} ({size:.1f} MB) printed in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
