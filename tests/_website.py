"""Helpers of tests/test_website.py: build the book, serve it, open it in headless Chromium.

- `build_pdf()` prints the book to ``_build/pdf/book.pdf`` (scripts/build_pdf.py), which
  the HTML build then serves behind the ".pdf" button.
- `build_book()` runs the README's build command (``jupyter-book build -W -n --keep-going .``,
  with ``--all`` so that every page is re-read and no warning hides behind an incremental
  build) into ``_build/html``; the notebooks come from the execution cache the earlier tests
  filled.
- `serve(folder)` serves a folder on ``127.0.0.1`` (a free port) from a background thread.
- `launch_browser()` starts Debian's Chromium (``/usr/bin/chromium``, or ``$CHROMIUM``) with
  Playwright; it never downloads a browser. `browser_missing()` says why it cannot, if so.
- `PAGE_REPORT_JS` is the JavaScript that inspects one loaded page (math, images, links,
  widgets, launch buttons, solutions); `page_report` runs it and adds the console messages.
- `local_ids(html_file)` the element ids of a built page (for the internal link check).
- Accessibility, layout and print (issue 25): `axe_script()` (axe-core as vendored by the
  pinned PyPI package axe-playwright-python) and `AXE_RUN_JS`; `ACCESS_REPORT_JS` (formulas
  in the tab order, interactive figures' names, values and live regions, figures' alt texts,
  favicon, download buttons); `WIDTH_REPORT_JS`, `PHONE_FIGURES_JS`, `PRINT_REPORT_JS`;
  `named_in_words` and `alt_problems` judge names and alt texts.

Environment variables: ``NODE_COURSE_REQUIRE_BROWSER=1`` (set by .ci/run) turns a missing
browser into a failure instead of a skip; ``NODE_COURSE_WEBSITE_NO_BUILD=1`` tests the
existing ``_build/html`` without building (with ``NODE_COURSE_WEBSITE_HTML=FOLDER``: another
built site, e.g. a build of main kept for comparison); ``NODE_COURSE_SCREENSHOTS`` is where the
chapter screenshots go (default ``_build/screenshots``).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from _scripts import ROOT

HTML = Path(os.environ.get("NODE_COURSE_WEBSITE_HTML", ROOT / "_build" / "html"))
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# The README's build command, plus --all: an incremental build does not repeat the warnings of
# pages that did not change, so without it a page built with warnings earlier would pass.
BUILD_COMMAND = ["build", "-W", "-n", "--keep-going", "--all", "."]
# Chromium runs as root in CI containers (no user namespace sandbox there), and /dev/shm is small.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}

# Console errors tolerated on every page: none. (Jupyter Book 1.0.4 declares sphinx-thebe's
# THEBE_JS_URL twice and pydata-sphinx-theme logs "Got invalid theme mode" without a default
# mode; _ext/accessible_theme.py and _config.yml's default_mode remove both.)
KNOWN_CONSOLE_ERRORS: tuple[re.Pattern[str], ...] = ()


def require_browser() -> bool:
    """True when a missing browser must fail the tests (CI) rather than skip them."""
    return os.environ.get("NODE_COURSE_REQUIRE_BROWSER", "") not in ("", "0")


def screenshot_dir() -> Path:
    return Path(os.environ.get("NODE_COURSE_SCREENSHOTS", ROOT / "_build" / "screenshots"))


def browser_missing() -> str | None:
    """Why the headless browser cannot run here, or None when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -r requirements.txt)"
    if not CHROMIUM.is_file():
        return (
            f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium chromium-driver; "
            "or set CHROMIUM to a Chromium executable)"
        )
    return None


def jupyter_book() -> str:
    """The jupyter-book executable of this environment."""
    beside = Path(sys.executable).parent / "jupyter-book"
    found = str(beside) if beside.exists() else shutil.which("jupyter-book")
    if found is None:
        raise FileNotFoundError("jupyter-book is not installed (pip install -r requirements.txt)")
    return found


def build_pdf() -> subprocess.CompletedProcess[str]:
    """scripts/build_pdf.py: the one-page build printed to _build/pdf/book.pdf, which the HTML
    build then puts behind the download menu's ".pdf" button (_ext/accessible_theme.py)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_pdf.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def build_book() -> subprocess.CompletedProcess[str]:
    """Run the README's build command in the repository root, output captured."""
    return subprocess.run(
        [jupyter_book(), *BUILD_COMMAND],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve `folder` over HTTP on localhost; yields the base URL (ending in '/')."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def launch_browser() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright; yields the Browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)


@functools.cache
def local_ids(html_file: Path) -> frozenset[str]:
    """The ids (and anchor names) of the elements of a built HTML page."""
    parser = _Ids()
    parser.feed(html_file.read_text(encoding="utf-8"))
    return frozenset(parser.ids)


def is_known_console_error(text: str) -> bool:
    return any(pattern.search(text) for pattern in KNOWN_CONSOLE_ERRORS)


# What one page looks like to a reader, computed in the browser after MathJax has typeset it.
PAGE_REPORT_JS = r"""
async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const article = document.querySelector('article') || document.body;
  // The reader's text without code: code cells may hold $ and \( legitimately.
  const clone = article.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, mjx-container, .cell_input')
       .forEach(e => e.remove());
  const text = clone.innerText;
  const mathNodes = Array.from(document.querySelectorAll('span.math, div.math'));
  const images = Array.from(document.querySelectorAll('img')).map(img => ({
    src: img.getAttribute('src'),
    url: img.currentSrc || img.src,
    alt: img.getAttribute('alt'),
    loaded: img.complete && img.naturalWidth > 0,
    // a state of an interactive figure not shown yet: loads when a control shows it
    deferred: !img.hasAttribute('src') && img.hasAttribute('data-src'),
  }));
  const links = Array.from(document.querySelectorAll('a[href]')).map(a => ({
    href: a.getAttribute('href'), url: a.href, text: a.innerText.trim().slice(0, 60),
  }));
  const widgets = Array.from(document.querySelectorAll(
      'script[type="application/vnd.jupyter.widget-view+json"]')).map(script => {
    const cell = script.closest('.cell') || script.parentElement;
    return {
      images: Array.from(cell.querySelectorAll('.cell_output img')).map(
          img => img.complete && img.naturalWidth > 0),
      text: cell.querySelector('.cell_output') ?
          cell.querySelector('.cell_output').innerText : '',
    };
  });
  // Code cells a reader sees (cells removed or folded by tags are not in the page or hidden):
  // their number of lines and whether their box scrolls sideways.
  const codeCells = Array.from(document.querySelectorAll('.cell_input pre'))
      .filter(pre => pre.offsetParent !== null).map(pre => ({
    lines: pre.innerText.replace(/\n$/, '').split('\n').length,
    scrolls: pre.scrollWidth > pre.clientWidth + 1,
    first: pre.innerText.split('\n')[0].slice(0, 80),
    widest: Math.max(...pre.innerText.split('\n').map(l => l.length)),
  }));
  // What the cells print: an exercise page must show no traceback or failing report.
  const outputText = Array.from(document.querySelectorAll('.cell_output'))
      .map(o => o.innerText).join('\n');
  // Interactive figures stepped through precomputed states (nodelib.course.interactive).
  const steppers = Array.from(document.querySelectorAll('[data-nodelib-stepper]')).map(s => ({
    frames: s.querySelectorAll('img[data-state]').length,
    shown: Array.from(s.querySelectorAll('img[data-state]')).filter(i => !i.hidden).length,
    controls: s.querySelectorAll('[data-control]').length,
    note: (s.closest('.cell_output') || s.parentElement).innerText,
  }));
  // sphinx-exercise's solutions, dropdown or not: every one must start hidden.
  const solutions = Array.from(document.querySelectorAll('div.solution.admonition')).map(
      s => s.id);
  return {
    title: document.title,
    h1: (document.querySelector('article h1') || {innerText: ''}).innerText,
    text,
    mathNodes: mathNodes.length,
    mathUnrendered: mathNodes.filter(m => !m.querySelector('mjx-container'))
                             .map(m => m.innerText.slice(0, 80)),
    mathErrors: Array.from(document.querySelectorAll('mjx-merror'))
                     .map(e => e.getAttribute('data-mjx-error') || e.innerText),
    mathjaxLoaded: !!(window.MathJax && MathJax.version),
    images, links, widgets, solutions, codeCells, outputText, steppers,
  };
}
"""

# Raw TeX left in the reader's text: display delimiters, \( \) \[ \], or a $...$ holding TeX.
RAW_MATH = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\$[^$\n]*[\\^_{}][^$\n]*\$")

# Horizontal overflow at phone width: the page's own width, and the outermost elements of the
# article that reach past the screen's right edge without a scroll box of their own (a wide
# code cell, table or equation that scrolls inside its box is fine).
PHONE_REPORT_JS = r"""
([vw, tolerance]) => {
  // vw: the phone's width. Not window.innerWidth: a mobile browser widens its layout viewport
  // (and zooms out) to fit a page that is too wide, which is exactly what to catch.
  const doc = document.documentElement;
  const article = document.querySelector('article') || document.body;
  const scrollsInside = (el) => {
    for (let a = el; a && a !== article; a = a.parentElement) {
      const style = getComputedStyle(a);
      if (['auto', 'scroll', 'hidden', 'clip'].includes(style.overflowX) &&
          a.getBoundingClientRect().right <= vw + tolerance) return true;
    }
    return false;
  };
  const wide = [];
  for (const el of article.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= vw + tolerance) continue;
    if (wide.some(w => w.contains(el)) || scrollsInside(el)) continue;
    wide.push(el);
  }
  const p = article.querySelector('p');
  return {
    scrollWidth: Math.max(doc.scrollWidth, document.body.scrollWidth),
    viewport: vw,
    wide: wide.slice(0, 5).map(el =>
        `<${el.tagName.toLowerCase()} class="${el.className}"> ` +
        `${JSON.stringify(el.innerText.trim().slice(0, 50))} ` +
        `reaching ${Math.round(el.getBoundingClientRect().right)} px`),
    fontPx: p ? parseFloat(getComputedStyle(p).fontSize) : null,
  };
}
"""


# --- accessibility, layout and print (issue 25) ---------------------------------------------


# axe-core, as vendored by the pinned PyPI package axe-playwright-python (no download at test
# time); None when the package is missing (the tests then fail and say so).
def axe_script() -> str | None:
    try:
        from axe_playwright_python.base import AXE_SCRIPT
    except ImportError:
        return None
    return AXE_SCRIPT


# Runs axe-core on the page (WCAG 2.0/2.1 A and AA rules plus axe's best practices, and the
# experimental rule that a control's name contains its visible text, WCAG 2.5.3, as the audit
# behind issue 25 ran it) and returns its violations, each with its impact, node count and one
# example node.
AXE_RUN_JS = r"""
async () => {
  const result = await axe.run(document, {
    resultTypes: ['violations'],
    rules: {'label-content-name-mismatch': {enabled: true}},
    // no CSSOM preload: it re-fetches the stylesheets and resolves the theme's
    // @import "../basic.css" against the page, a request that fails (only its one rule,
    // css-orientation-lock, needs it)
    preload: false,
  });
  return {version: axe.version, violations: result.violations.map(v => ({
    id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help,
    example: v.nodes[0] ? {target: v.nodes[0].target.join(' '),
                           html: v.nodes[0].html.slice(0, 200),
                           summary: (v.nodes[0].failureSummary || '').slice(0, 300)} : null,
  }))};
}
"""

# What assistive technology gets from the page's formulas and interactive figures.
ACCESS_REPORT_JS = r"""
() => {
  const formulas = Array.from(document.querySelectorAll('mjx-container'));
  const steppers = Array.from(document.querySelectorAll('[data-nodelib-stepper]')).map(s => {
    const live = s.querySelector('[aria-live]');
    const frames = Array.from(s.querySelectorAll('img[data-state]'));
    return {
      role: s.getAttribute('role'), label: s.getAttribute('aria-label') || '',
      live: live ? live.getAttribute('aria-live') : null,
      liveText: live ? live.textContent.trim() : '',
      alts: frames.map(f => f.getAttribute('alt') || ''),
      shownAlt: (frames.find(f => !f.hidden) || {alt: ''}).alt,
      controls: Array.from(s.querySelectorAll('[data-control]')).map(c => ({
        tag: c.tagName.toLowerCase(),
        name: (c.closest('label') ? c.closest('label').querySelector(
            '.nodelib-stepper-name') || c.closest('label') : c).textContent.trim(),
        valuetext: c.getAttribute('aria-valuetext'),
        shown: c.tagName === 'SELECT' ? c.selectedOptions[0].textContent :
            ((c.parentElement.querySelector('output') || {}).textContent || ''),
        value: c.value,
        states: c.tagName === 'SELECT' ? c.options.length : Number(c.max) - Number(c.min) + 1,
        options: c.tagName === 'SELECT' ? Array.from(c.options).map(o => o.textContent) : [],
      })),
    };
  });
  const figures = Array.from(document.querySelectorAll('article img'))
      .filter(img => !img.closest('[data-nodelib-stepper]')).map(img => ({
    src: img.getAttribute('src'), alt: img.getAttribute('alt') || '',
    classes: img.className,
  }));
  const icon = document.querySelector('link[rel~="icon"]');
  return {
    formulas: formulas.length,
    // (a formula too wide for its column scrolls, and so is a Tab stop: _static/course.js)
    formulaTabStops: formulas.filter(m => m.tabIndex >= 0 &&
                                          !m.classList.contains('nodelib-scrolls')).length,
    wideFormulaTabStops: formulas.filter(m => m.classList.contains('nodelib-scrolls')).length,
    assistiveMml: document.querySelectorAll('mjx-assistive-mml').length,
    headerlinkTabStops: Array.from(document.querySelectorAll('a.headerlink'))
        .filter(a => a.tabIndex >= 0).length,
    steppers, figures, favicon: icon ? icon.href : null,
    pdfButton: (() => {
      const b = document.querySelector('.btn-download-pdf-button');
      return b ? {tag: b.tagName.toLowerCase(), href: b.getAttribute('href')} : null;
    })(),
    ipynbDownload: (() => {
      const a = Array.from(document.querySelectorAll('.btn-download-source-button'))
          .find(a => (a.getAttribute('href') || '').endsWith('.ipynb'));
      return a ? a.href : null;
    })(),
  };
}
"""

# The page's width against the window's, and the search controls a reader can see.
WIDTH_REPORT_JS = r"""
() => {
  const doc = document.documentElement;
  const visible = el => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && el.offsetParent !== null;
  };
  // The site's search controls (header, sidebars), not the search page's own form.
  const searches = Array.from(document.querySelectorAll(
      '.search-button-field, button.search-button, form.bd-search'))
      .filter(el => visible(el) && !el.closest('dialog, article, .bd-search-container'));
  return {scrollWidth: Math.max(doc.scrollWidth, document.body.scrollWidth),
          searchBoxes: searches.length};
}
"""

# At phone width: the displayed equations wider than their column (each must show a cue and
# be reachable by keyboard), and the figures shown much smaller than drawn (each must open
# at a legible size when tapped).
PHONE_FIGURES_JS = r"""
async ([minScale]) => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  await new Promise(r => setTimeout(r, 200));  // course.js marks equations after typesetting
  // The box that scrolls: a div.math or MathJax's display container inside it.
  const boxes = Array.from(document.querySelectorAll('article div.math'))
      .flatMap(m => [m, ...m.querySelectorAll(':scope > mjx-container')]);
  const wide = boxes
      .filter(m => m.offsetParent !== null && m.scrollWidth > m.clientWidth + 1 &&
                   ['auto', 'scroll'].includes(getComputedStyle(m).overflowX))
      .map(m => ({
        cue: m.classList.contains('nodelib-scrolls') &&
             getComputedStyle(m).backgroundImage.includes('gradient'),
        keyboard: m.tabIndex >= 0 && !!m.getAttribute('aria-label'),
        text: m.textContent.trim().slice(0, 60),
      }));
  const small = [];
  for (const img of document.querySelectorAll('article img')) {
    if (img.offsetParent === null || img.hidden || !img.naturalWidth) continue;
    const scale = img.getBoundingClientRect().width / img.naturalWidth;
    if (scale >= minScale) continue;
    const link = img.closest('a[href]');
    if (link) {  // a tap opens the image file itself (Sphinx links scaled images to theirs)
      const opens = new URL(link.href).pathname === new URL(img.currentSrc || img.src).pathname;
      small.push({src: (img.getAttribute('src') || '').slice(-40), scale,
                  enlarged: opens ? 1 : 0});
      continue;
    }
    img.click();
    const big = document.querySelector('dialog.nodelib-zoom[open] img');
    let enlarged = 0;
    if (big) {
      try { await big.decode(); } catch (e) {}
      enlarged = big.getBoundingClientRect().width / img.naturalWidth;
      big.closest('dialog').close();
    }
    small.push({src: (img.getAttribute('src') || '').slice(-40), scale, enlarged});
  }
  return {wide, small};
}
"""

# Printed (print media, A4 width): tables that overflow their column, and folded hints or
# solutions whose content would not be printed.
PRINT_REPORT_JS = r"""
() => {
  const article = document.querySelector('article');
  const right = article.getBoundingClientRect().right;
  const cut = Array.from(article.querySelectorAll('table')).filter(t =>
      t.getBoundingClientRect().right > right + 1 ||
      (t.parentElement.scrollWidth > t.parentElement.clientWidth + 1 &&
       getComputedStyle(t.parentElement).overflowX !== 'visible'))
      .map(t => t.innerText.slice(0, 60));
  const shown = el => el.checkVisibility ? el.checkVisibility() : el.offsetParent !== null;
  const folded = [];
  for (const d of article.querySelectorAll('details')) {
    const body = Array.from(d.children).filter(c => c.tagName !== 'SUMMARY');
    if (body.length && !body.every(shown)) folded.push('hint: ' + d.innerText.slice(0, 50));
  }
  for (const s of article.querySelectorAll('div.solution')) {
    const body = s.querySelector('.admonition-title ~ *');
    if (body && (!shown(body) || body.getBoundingClientRect().height === 0)) {
      folded.push('solution: ' + s.id);
    }
  }
  return {tables: article.querySelectorAll('table').length, cut, folded,
          hints: article.querySelectorAll('details').length,
          solutions: article.querySelectorAll('div.solution').length};
}
"""

# Words, not symbols: a control's name holds a word of three letters or more that is not a
# Greek letter's name or a code name; an alt text holds no TeX and no code names.
_GREEK = re.compile(
    r"(alpha|beta|gamma|delta|epsilon|zeta|eta|theta|iota|kappa|lambda|mu|nu|xi|omicron|pi|rho|"
    r"sigma|tau|upsilon|phi|chi|psi|omega)",
    re.IGNORECASE,
)
TEX_IN_TEXT = re.compile(r"\$|\\[A-Za-z]+|\^\{|_\{")
CODE_NAME = re.compile(r"\b[A-Za-z]+_[A-Za-z0-9_]+\b")
PLACEHOLDER_ALT = re.compile(r"^Figure \d+ on page|^Figure \d+$|^Image$|^png$", re.IGNORECASE)


def named_in_words(name: str) -> bool:
    """Whether a control's name is words ("step size h"), not a bare symbol ("h", "θ", "w1")."""
    words = re.findall(r"[A-Za-z]{3,}", name)
    return any(not _GREEK.fullmatch(w) for w in words) and not CODE_NAME.search(name)


def alt_problems(alt: str) -> list[str]:
    """What is wrong with an alt text for a screen reader (empty list: nothing)."""
    problems = []
    if TEX_IN_TEXT.search(alt):
        problems.append(f"TeX in {alt!r}")
    if CODE_NAME.search(alt):
        problems.append(f"a code name ({CODE_NAME.search(alt).group(0)}) in {alt!r}")
    if PLACEHOLDER_ALT.search(alt.strip()):
        problems.append(f"a placeholder: {alt!r}")
    return problems
