"""The website as readers see it: built, served on localhost, opened in headless Chromium.

This module runs last in the test session (its name sorts last): the chapter and grading tests
before it have executed every notebook once into the book's execution cache, so the build here
(the README's build command, ``jupyter-book build -W -n --keep-going .``, zero warnings, plus
``--all`` so that every page is re-read) does not execute them again. Then it serves
``_build/html`` on 127.0.0.1, opens every page in Debian's Chromium (Playwright, no browser
download, no network: requests that leave localhost are blocked and reported) and checks, on
every page: no console errors, math typeset by the local MathJax, every image loaded and
described by alt text, every internal link resolves, Colab buttons open the page's own
notebook, the page fits a phone's width and weighs under 5 MB; on chapter pages no code cell is
longer than 25 lines or scrolls sideways at 1280 px; exercise pages show no traceback or
failing report, solution pages their passing ones; interactive figures are stepped states
(nodelib.course.interactive) with their note, in chapters 1, 2, 4 and 6 at least. And once: moving a
control of every interactive figure shows another image, dropdown solutions start hidden and
open on click, search finds chapter 6. Screenshots of each chapter's first screen (desktop and
phone) are saved in ``_build/screenshots`` (.ci/run keeps them in the repository's _build).

A website every student can use (issue 25): axe-core finds no serious or critical WCAG 2.1 AA
violation on any page; no formula or heading permalink is a Tab stop, and each chapter's
interactive figure is reached in under 40 Tab presses (the counts, with and without the
figure's skip link, are printed); sliders announce the value they show, each new image's alt
text is announced, no control has a single state; no alt text holds TeX or a code name; no page
is wider than the window from 320 to 1920 px; one search box; wide equations show a scroll cue;
figures shown small on a phone open at full size on a tap; chapter pages under 2 MB with their
images; a favicon; the ".pdf" button downloads the PDF that scripts/build_pdf.py printed
first; chapter downloads hold their outputs; printing keeps tables whole and opens hints and
solutions. Every control is named in words, and every figure's alt text ends in its finding
(printed per page).

Without Playwright or Chromium the module is skipped, unless NODE_COURSE_REQUIRE_BROWSER=1
(.ci/run sets it), which makes that a failure. See tests/_website.py for the other switches.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import time
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import pytest
import yaml
from _notebooks import TIMES as NOTEBOOK_TIMES
from _scripts import ROOT
from _website import (
    ACCESS_REPORT_JS,
    AXE_RUN_JS,
    DESKTOP,
    HTML,
    PAGE_REPORT_JS,
    PHONE,
    PHONE_FIGURES_JS,
    PHONE_REPORT_JS,
    PRINT_REPORT_JS,
    RAW_MATH,
    WIDTH_REPORT_JS,
    alt_problems,
    axe_script,
    browser_missing,
    build_book,
    build_pdf,
    is_known_console_error,
    launch_browser,
    local_ids,
    named_in_words,
    require_browser,
    screenshot_dir,
    serve,
)

pytestmark = pytest.mark.website

SEARCH_TERM = "Hutchinson"  # chapter 6: Hutchinson's trace estimator (FFJORD)
STATIC_NOTE = "states computed when this page was built"  # nodelib.course.interactive.static_note
# Chapters that must have an interactive figure working on the website (issue 14): the
# θ-method (1), the stability explorer (2), the planar flow (4), the CNF over time (6).
STEPPED_CHAPTERS = ("chapters/ch01_", "chapters/ch02_", "chapters/ch04_", "chapters/ch06_")
PAGE_LIMIT_BYTES = 5_000_000
CHAPTER_LIMIT_BYTES = 2_000_000  # HTML and the images it shows at first, fonts and scripts aside
# The window widths every page is laid out at: no page may be wider than its window.
WIDTHS = (320, 390, 600, 800, 1024, 1280, 1440, 1920)
TAB_TARGET = 40  # Tab presses from the top of a chapter to its interactive figure's first control
TAB_CAP = 150  # the sequential count stops here (today's main needs up to 466)
# A figure shown at less than this fraction of its drawn width on a phone has tick labels
# under 9 px (matplotlib's 10 pt labels at 100 dpi are 13.9 px): a tap must enlarge it.
LEGIBLE_SCALE = 9 / 13.9
AXE_FAILING_IMPACTS = ("serious", "critical")
PRINT_PAGES = ("chapters/ch01_", "exercises/ch01_", "solutions/ch01_")
PRINT_VIEWPORT = {"width": 718, "height": 1000}  # A4's 210 mm less 2 x 15 mm margins, at 96 dpi
MAX_CODE_LINES = 25
FAILURE_WORDS = ("Traceback", "NotImplementedError", "[FAIL]", "ChecksFailed")
PHONE_TOLERANCE_PX = 2
MIN_FONT_PX = 14
TIMES: dict[str, float | int | str] = {}


def _fail_or_skip(reason: str) -> None:
    if require_browser():
        pytest.fail(f"{reason} (NODE_COURSE_REQUIRE_BROWSER is set: the browser is required)")
    pytest.skip(reason)


def _docname(page: str) -> str:
    return page.removesuffix(".html")


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def build() -> dict:
    """Build the book into _build/html (or use the existing build, if asked)."""
    missing = browser_missing()
    if missing:  # don't spend minutes on a build that nothing here can look at
        _fail_or_skip(missing)
    if os.environ.get("NODE_COURSE_WEBSITE_NO_BUILD", "") not in ("", "0"):
        if not (HTML / "intro.html").is_file():
            pytest.fail(f"NODE_COURSE_WEBSITE_NO_BUILD is set but {HTML} has no built book")
        return {"returncode": 0, "output": "", "skipped": True, "since": 0.0}
    since = time.time() - 2  # pages older than this build are left-overs of earlier builds
    start = time.perf_counter()
    pdf = build_pdf()  # first: the HTML build puts the PDF behind the ".pdf" button
    TIMES["pdf"] = time.perf_counter() - start
    start = time.perf_counter()
    result = build_book()
    TIMES["build"] = time.perf_counter() - start
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)  # no colours
    return {
        "returncode": result.returncode,
        "output": output,
        "since": since,
        "pdf": (pdf.returncode, (pdf.stdout + pdf.stderr)[-3000:]),
    }


@pytest.fixture(scope="module")
def site(build: dict) -> Path:
    if build["returncode"] != 0:
        pytest.fail("the book build failed: see test_book_builds_without_warnings")
    return HTML


@pytest.fixture(scope="module")
def pages(build: dict, site: Path) -> list[str]:
    """Every page the build wrote (not the redirect stubs), relative to the site.

    A page that an earlier build wrote and this one did not (a chapter renamed since) is a
    left-over in _build/html, not part of the book: it is not tested.
    """
    stubs = _redirects(site)
    return [
        str(p.relative_to(site))
        for p in _html_files(site)
        if str(p.relative_to(site)) not in stubs and p.stat().st_mtime >= build["since"]
    ]


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def web(site: Path):
    """A served site and two browser contexts, desktop and phone; requests stay on localhost."""
    with serve(site) as base, launch_browser() as browser:
        external: list[tuple[str, str]] = []  # (page url, blocked request url)

        def keep_local(route) -> None:
            if route.request.url.startswith((base, "data:")):
                route.continue_()
            else:
                external.append((route.request.frame.url, route.request.url))
                route.abort()

        desktop = browser.new_context(viewport=DESKTOP)
        phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        for context in (desktop, phone):
            context.route("**/*", keep_local)
        yield {"base": base, "context": desktop, "phone": phone, "external": external}
        desktop.close()
        phone.close()


REDIRECT = re.compile(r'<meta http-equiv="refresh" content="\d+;\s*url=([^"]+)"', re.IGNORECASE)


def _html_files(site: Path) -> list[Path]:
    """Every HTML file of the site (Sphinx's own _static, _sources, _images excluded)."""
    return sorted(
        p
        for p in site.rglob("*.html")
        if not any(part.startswith("_") for part in p.relative_to(site).parts)
    )


def _redirects(site: Path) -> dict[str, str]:
    """The redirect stubs (index.html -> intro.html): {page: target}."""
    found = {}
    for path in _html_files(site):
        match = REDIRECT.search(path.read_text(encoding="utf-8")[:1000])
        if match:
            found[str(path.relative_to(site))] = match.group(1)
    return found


def _watch(page, current: dict) -> None:
    """Record the page's console errors and failed requests into current[...]."""
    page.on("console", lambda m: current["console"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: current["console"].append(str(e)))
    page.on(
        "response",
        lambda r: current["failed"].append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    page.on("requestfailed", lambda r: current["failed"].append(f"{r.failure} {r.url}"))


@pytest.fixture(scope="module")
def reports(web: dict, pages: list[str]) -> dict[str, dict]:
    """Open every page once on a desktop and once on a phone; record what a reader gets."""
    start = time.perf_counter()
    base, current = web["base"], {}
    desktop, phone = web["context"].new_page(), web["phone"].new_page()
    _watch(desktop, current)
    _watch(phone, current)
    shots = screenshot_dir()
    shots.mkdir(parents=True, exist_ok=True)
    out: dict[str, dict] = {}
    axe = axe_script()
    for name in pages:
        current.update(console=[], failed=[])
        chapter = name.startswith("chapters/")
        desktop.set_viewport_size(DESKTOP)
        desktop.goto(base + name, wait_until="load")
        report = desktop.evaluate(PAGE_REPORT_JS)
        report["access"] = desktop.evaluate(ACCESS_REPORT_JS)
        if axe is not None:
            desktop.evaluate(axe)
            report["axe"] = desktop.evaluate(AXE_RUN_JS)
        if chapter:
            desktop.screenshot(path=shots / f"{Path(name).stem}.png")
        report["widths"] = {}
        for width in WIDTHS:
            desktop.set_viewport_size({"width": width, "height": DESKTOP["height"]})
            report["widths"][width] = desktop.evaluate(WIDTH_REPORT_JS)
        phone.goto(base + name, wait_until="load")
        phone.evaluate(PAGE_REPORT_JS)  # waits for MathJax: typeset math has its final width
        report["phone"] = phone.evaluate(PHONE_REPORT_JS, [PHONE["width"], PHONE_TOLERANCE_PX])
        if chapter:
            phone.screenshot(path=shots / f"{Path(name).stem}-phone.png")
        report["phone_figures"] = phone.evaluate(PHONE_FIGURES_JS, [LEGIBLE_SCALE])
        report.update(console=list(current["console"]), failed=list(current["failed"]))
        out[name] = report
    desktop.close()
    phone.close()
    TIMES["pages"] = time.perf_counter() - start
    TIMES["page count"] = len(out)
    return out


# --- the build ---------------------------------------------------------------------------------


def test_book_builds_without_warnings(build: dict) -> None:
    """The README's build (-W -n --keep-going, --all) succeeds: no warning, no notebook error."""
    if build.get("skipped"):
        pytest.skip("NODE_COURSE_WEBSITE_NO_BUILD is set: testing the existing build")
    # A kernel's start-up notice ("[IPKernelApp] WARNING | Kernel is running over TCP ...") is
    # not a Sphinx warning: -W ignores it, and so does this test.
    warnings = [
        line
        for line in build["output"].splitlines()
        if "WARNING" in line and not line.startswith("[IPKernelApp]")
    ]
    assert build["returncode"] == 0 and not warnings, (
        f"jupyter-book build -W -n --keep-going --all . exited {build['returncode']}; "
        f"warnings:\n"
        + "\n".join(warnings[:40])
        + "\n--- end of the output ---\n"
        + build["output"][-4000:]
    )


def test_build_reused_every_notebook_the_tests_executed(build: dict) -> None:
    """One execution per notebook: the build takes the tests' runs from the execution cache.

    tests/_notebooks.py stores every notebook the tests executed; myst-nb logs "Executing
    notebook" for each one it has to run itself, which may only be the ones no test ran (none,
    when the whole suite runs, as in CI).
    """
    if build.get("skipped"):
        pytest.skip("NODE_COURSE_WEBSITE_NO_BUILD is set: testing the existing build")
    folders = ("chapters", "exercises", "solutions")
    toc_notebooks = len([p for p in ROOT.glob("*/*.ipynb") if p.parent.name in folders])
    not_run_by_tests = toc_notebooks - len(NOTEBOOK_TIMES)
    executed = build["output"].count("Executing notebook")
    assert executed <= max(not_run_by_tests, 0), (
        f"the build executed {executed} notebooks, but only {not_run_by_tests} were not executed "
        "by the tests: the execution cache did not match (see tests/_notebooks.py)"
    )


# --- every page --------------------------------------------------------------------------------


def test_every_page_was_opened(reports: dict[str, dict], site: Path) -> None:
    assert "intro.html" in reports and "search.html" in reports
    assert any(name.startswith("chapters/") for name in reports), "no chapter page was built"


def test_no_console_errors_or_failed_requests(reports: dict[str, dict], web: dict) -> None:
    problems = []
    for name, report in reports.items():
        problems += [
            f"{name}: console error: {text}"
            for text in report["console"]
            if not is_known_console_error(text)
        ]
        problems += [
            f"{name}: failed request: {text}" for text in report["failed"] if web["base"] in text
        ]  # requests that leave localhost: below
    problems += [f"{page}: request leaves localhost: {url}" for page, url in web["external"]]
    assert not problems, "\n".join(problems)


def test_math_is_rendered_by_local_mathjax(reports: dict[str, dict]) -> None:
    assert sum(r["mathNodes"] for r in reports.values()) > 0, "no page has any math"
    problems = []
    for name, report in reports.items():
        if report["mathNodes"] and not report["mathjaxLoaded"]:
            problems.append(f"{name}: MathJax did not load")
        problems += [f"{name}: math not typeset: {m!r}" for m in report["mathUnrendered"]]
        problems += [f"{name}: TeX error: {m!r}" for m in report["mathErrors"]]
        for match in RAW_MATH.finditer(report["text"]):
            context = report["text"][max(0, match.start() - 40) : match.end() + 40]
            problems.append(f"{name}: raw TeX in the text: …{context!r}…")
    assert not problems, "\n".join(problems)


IMAGE_FILE = re.compile(r"(_images/|\.(png|jpe?g|gif|svg|webp)$)", re.IGNORECASE)


def test_images_load_and_have_alt_text(reports: dict[str, dict]) -> None:
    problems = []
    for name, report in reports.items():
        for image in report["images"]:
            if not image["loaded"] and not image["deferred"]:
                problems.append(f"{name}: image did not load: {image['src']}")
            alt = (image["alt"] or "").strip()
            if not alt or alt == image["src"] or IMAGE_FILE.search(alt):
                problems.append(f"{name}: image {image['src']} has no alt text (alt={alt!r})")
    assert not problems, "\n".join(problems)


def test_internal_links_resolve(reports: dict[str, dict], web: dict, site: Path) -> None:
    base = web["base"]
    problems, seen = [], set()
    for name, report in reports.items():
        for link in report["links"]:
            url, fragment = urldefrag(link["url"])
            if not url.startswith(base) or (url, fragment) in seen:
                continue
            seen.add((url, fragment))
            path = site / unquote(urlsplit(url).path.removeprefix(urlsplit(base).path))
            if path.is_dir():
                path = path / "index.html"
            if not path.is_file():
                problems.append(f"{name}: link {link['href']!r} ({link['text']!r}): no such file")
            elif fragment and path.suffix == ".html" and unquote(fragment) not in local_ids(path):
                problems.append(f"{name}: link {link['href']!r} ({link['text']!r}): no anchor")
    for name, target in _redirects(site).items():
        if not (site / Path(name).parent / target).is_file():
            problems.append(f"{name}: redirects to {target!r}: no such file")
    assert seen, "no internal link found"
    assert not problems, "\n".join(problems)


def test_colab_buttons_open_the_pages_own_notebook(reports: dict[str, dict], config: dict) -> None:
    repo = config["repository"]["url"].rstrip("/").removesuffix(".git")
    owner_repo = urlsplit(repo).path.strip("/")
    branch = config["repository"].get("branch", "main")
    book = (config["repository"].get("path_to_book") or "").strip("/")
    colab = config["launch_buttons"]["colab_url"].rstrip("/")
    problems, notebooks = [], 0
    for name, report in reports.items():
        docname = _docname(name)
        links = [lk["url"] for lk in report["links"] if lk["url"].startswith(colab)]
        if not (ROOT / book / f"{docname}.ipynb").is_file():
            continue
        notebooks += 1
        path = f"{book}/{docname}.ipynb".lstrip("/")
        expected = f"{colab}/github/{owner_repo}/blob/{branch}/{path}"
        if links != [expected]:
            problems.append(f"{name}: Colab links {links}, expected [{expected!r}]")
        if docname.startswith("exercises/") and any("/solutions/" in url for url in links):
            problems.append(f"{name}: an exercise page opens a solution notebook in Colab")
    assert notebooks, "no notebook page found"
    assert not problems, "\n".join(problems)


def test_interactive_figures_are_stepped_states_with_a_note(reports: dict[str, dict]) -> None:
    """Every interactive figure is a stepper (no frozen ipywidgets view) with its note."""
    problems = [
        f"{name}: an ipywidgets view without a kernel (use nodelib.course.book.interactive_figure)"
        for name, r in reports.items()
        if r["widgets"]
    ]
    for name, report in reports.items():
        for stepper in report["steppers"]:
            if stepper["frames"] < 2 or stepper["shown"] != 1 or not stepper["controls"]:
                problems.append(f"{name}: a stepper with {stepper}")
            if STATIC_NOTE not in " ".join(stepper["note"].split()):
                problems.append(f"{name}: a stepper without the note {STATIC_NOTE!r}")
    for chapter in STEPPED_CHAPTERS:
        found = [n for n, r in reports.items() if n.startswith(chapter) and r["steppers"]]
        if not found:
            problems.append(f"{chapter}: no interactive figure that works on the website")
    assert not problems, "\n".join(problems)


def _page_weight(site: Path, name: str) -> int:
    """Bytes of a page's HTML and of the image files it shows on loading (``src``; the states of
    an interactive figure not shown yet wait in ``data-src`` until a control shows them)."""
    html_file = site / name
    text = html_file.read_text(encoding="utf-8")
    images = {
        (html_file.parent / unquote(src)).resolve()
        for src in re.findall(r'<img[^>]*?\ssrc="([^"]+)"', text)
        if not src.startswith(("data:", "http"))
    }
    return html_file.stat().st_size + sum(p.stat().st_size for p in images if p.is_file())


def test_pages_weigh_less_than_5_mb_and_chapters_less_than_2(pages: list[str], site: Path) -> None:
    """A page with its images stays under 5 MB; a chapter page under 2 MB (issue 25)."""
    problems, weights = [], {}
    for name in pages:
        size = weights[name] = _page_weight(site, name)
        limit = CHAPTER_LIMIT_BYTES if name.startswith("chapters/") else PAGE_LIMIT_BYTES
        if size > limit:
            problems.append(f"{name}: {size / 1e6:.2f} MB with its images (limit {limit / 1e6} MB)")
    TIMES["chapter MB"] = " ".join(
        f"{Path(n).stem[:4]}={w / 1e6:.2f}" for n, w in sorted(weights.items()) if "chapters/" in n
    )
    assert not problems, "\n".join(problems)


def test_moving_a_control_changes_the_figure(reports: dict[str, dict], web: dict) -> None:
    """On every page with a stepped figure, moving its first control shows another image."""
    stepped = [name for name, r in reports.items() if r["steppers"]]
    if not stepped:
        pytest.fail("no page has an interactive figure")
    page = web["context"].new_page()
    problems = []
    for name in stepped:
        page.goto(web["base"] + name, wait_until="load")
        for k in range(len(reports[name]["steppers"])):
            stepper = page.locator("[data-nodelib-stepper]").nth(k)
            stepper.scroll_into_view_if_needed()
            visible = stepper.locator("img[data-state]:not([hidden])")
            before = (visible.get_attribute("data-state"), visible.get_attribute("src"))
            control = stepper.locator("[data-control]").first
            if control.evaluate("c => c.tagName") == "SELECT":
                count = control.locator("option").count()
                current = int(control.input_value())
                control.select_option(str((current + 1) % count))
            else:
                top, current = int(control.get_attribute("max")), int(control.input_value())
                control.fill(str(current + 1 if current < top else current - 1))
            after_img = stepper.locator("img[data-state]:not([hidden])")
            if after_img.count() != 1:
                problems.append(f"{name}: {after_img.count()} images shown after a move")
                continue
            after = (after_img.get_attribute("data-state"), after_img.get_attribute("src"))
            if after[0] == before[0] or after[1] == before[1] or not after_img.is_visible():
                problems.append(f"{name}: figure {k} did not change when its control moved")
            problems += _announced_after_a_move(name, k, stepper, control, after_img)
    page.close()
    assert not problems, "\n".join(problems)


def _announced_after_a_move(name: str, k: int, stepper, control, image) -> list[str]:
    """After a move: the slider announces the value it shows; the live region the new alt."""
    problems = []
    if control.evaluate("c => c.tagName") != "SELECT":
        shown = control.evaluate("c => c.parentElement.querySelector('output').textContent")
        if control.get_attribute("aria-valuetext") != shown:
            problems.append(
                f"{name}: figure {k}'s slider announces {control.get_attribute('aria-valuetext')!r}"
                f" while it shows {shown!r}"
            )
    live = stepper.locator("[aria-live]")
    if live.count() != 1 or live.text_content().strip() != (image.get_attribute("alt") or ""):
        problems.append(f"{name}: figure {k}'s new image is not announced (no live region text)")
    return problems


def test_chapter_code_cells_are_short_and_do_not_scroll(reports: dict[str, dict]) -> None:
    """A chapter page shows the code that teaches: no cell over 25 lines, none scrolls at 1280."""
    problems = []
    chapters = {n: r for n, r in reports.items() if n.startswith("chapters/")}
    assert chapters, "no chapter page"
    for name, report in chapters.items():
        for cell in report["codeCells"]:
            if cell["lines"] > MAX_CODE_LINES:
                problems.append(f"{name}: a {cell['lines']}-line code cell: {cell['first']!r}")
            if cell["scrolls"]:
                problems.append(
                    f"{name}: a code cell scrolls sideways at {DESKTOP['width']} px "
                    f"(a {cell['widest']}-character line): {cell['first']!r}"
                )
    assert not problems, "\n".join(problems)


def test_exercise_pages_show_no_traceback_and_solutions_pass(reports: dict[str, dict]) -> None:
    """Exercise pages read as assignments; solution pages keep their passing reports."""
    problems = []
    exercises = {n: r for n, r in reports.items() if re.match(r"exercises/ch\d\d_", n)}
    solutions = {n: r for n, r in reports.items() if re.match(r"solutions/ch\d\d_", n)}
    assert len(exercises) == 6 and len(solutions) == 6, (sorted(exercises), sorted(solutions))
    for name, report in exercises.items():
        for word in FAILURE_WORDS:
            if word in report["outputText"]:
                problems.append(f"{name}: the page shows {word!r}")
    for name, report in solutions.items():
        if "[pass]" not in report["outputText"]:
            problems.append(f"{name}: no passing report on the solution page")
        problems += [f"{name}: shows {w!r}" for w in FAILURE_WORDS if w in report["outputText"]]
    assert not problems, "\n".join(problems)


def test_readable_at_phone_width(reports: dict[str, dict]) -> None:
    problems = []
    for name, report in reports.items():
        phone = report["phone"]
        if phone["scrollWidth"] > phone["viewport"] + PHONE_TOLERANCE_PX:
            problems.append(
                f"{name}: the page scrolls sideways at {PHONE['width']} px "
                f"({phone['scrollWidth']} px wide)"
            )
        problems += [f"{name}: wider than a {PHONE['width']} px screen: {w}" for w in phone["wide"]]
        if phone["fontPx"] is not None and phone["fontPx"] < MIN_FONT_PX:
            problems.append(f"{name}: body text {phone['fontPx']} px at phone width")
    assert not problems, "\n".join(problems)


# --- issue 25: keyboard, screen reader, phone, print ---------------------------------------------


def _resolve(site: Path, url: str, base: str) -> Path | None:
    if not url or not url.startswith(base):
        return None
    return site / unquote(urlsplit(url).path.removeprefix(urlsplit(base).path))


def test_axe_finds_no_serious_or_critical_violation(reports: dict[str, dict], capsys) -> None:
    """WCAG 2.1 AA as axe-core checks it, theme included: no serious or critical violation."""
    if axe_script() is None:
        pytest.fail("axe-playwright-python is not installed (pip install -r requirements.txt)")
    problems, table = [], []
    for name, report in reports.items():
        counts = Counter()
        for v in report["axe"]["violations"]:
            counts[v["impact"]] += v["nodes"]
            if v["impact"] in AXE_FAILING_IMPACTS:
                example = v["example"] or {}
                problems.append(
                    f"{name}: {v['impact']} {v['id']} on {v['nodes']} node(s) ({v['help']}), "
                    f"e.g. {example.get('target')}: {example.get('html')!r}"
                )
        levels = ("critical", "serious", "moderate", "minor")
        table.append(f"  {name}: " + ", ".join(f"{i} {counts[i]}" for i in levels))
    version = next(iter(reports.values()))["axe"]["version"]
    with capsys.disabled():
        print(f"\naxe-core {version}, violations (nodes) per page:\n" + "\n".join(table))
    assert not problems, "\n".join(problems)


def test_formulas_and_permalinks_are_not_tab_stops(reports: dict[str, dict]) -> None:
    """MathJax keeps its assistive MathML, but no formula and no heading's "#" is a Tab stop."""
    problems = []
    for name, report in reports.items():
        access = report["access"]
        if access["formulaTabStops"]:
            problems.append(f"{name}: {access['formulaTabStops']} formulas are Tab stops")
        if access["formulas"] and not access["assistiveMml"]:
            problems.append(f"{name}: the formulas have no assistive MathML")
        if access["headerlinkTabStops"]:
            problems.append(
                f"{name}: {access['headerlinkTabStops']} heading permalinks are Tab stops"
            )
    assert any(r["access"]["formulas"] for r in reports.values()), "no page has a formula"
    assert not problems, "\n".join(problems)


FOCUS_JS = r"""
() => {
  const a = document.activeElement;
  const first = document.querySelector('[data-nodelib-stepper] [data-control]');
  return {atFigure: !!a && a === first, text: a ? (a.innerText || '').trim().slice(0, 80) : '',
          link: !!a && a.tagName === 'A'};
}
"""


def _tabs_to_figure(page, url: str, skip_to: str) -> int:
    """Tab presses from the top of the page to the first control of its interactive figure.

    The reader follows the one skip link whose text contains `skip_to` (Enter, not counted):
    "interactive figure" takes the page's shortcut to the figure; "main content" starts at the
    top of the chapter's content and tabs through all of it. Returns TAB_CAP + 1 when the
    control is not reached within TAB_CAP presses.
    """
    page.goto(url, wait_until="load")
    page.evaluate("async () => { if (window.MathJax) await MathJax.startup.promise; }")
    followed = False
    for presses in range(1, TAB_CAP + 1):
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS_JS)
        if focus["atFigure"]:
            return presses
        if not followed and focus["link"] and skip_to in focus["text"].lower():
            page.keyboard.press("Enter")
            followed = True
    return TAB_CAP + 1


@pytest.fixture(scope="module")
def tab_counts(reports: dict[str, dict], web: dict) -> dict[str, dict[str, int]]:
    start = time.perf_counter()
    page = web["context"].new_page()
    out = {}
    for name, report in reports.items():
        if name.startswith("chapters/") and report["steppers"]:
            url = web["base"] + name
            out[name] = {
                "with the figure's skip link": _tabs_to_figure(page, url, "interactive figure"),
                "through the chapter": _tabs_to_figure(page, url, "main content"),
            }
    page.close()
    TIMES["tab counts"] = time.perf_counter() - start
    return out


def test_keyboard_reaches_each_interactive_figure_in_under_40_presses(
    tab_counts: dict[str, dict[str, int]], capsys
) -> None:
    """From the top of each chapter, Tab (and the figure's skip link) reaches the figure."""
    assert tab_counts, "no chapter has an interactive figure"
    with capsys.disabled():
        print("\nTab presses to the first control of the interactive figure:")
        for name, counts in tab_counts.items():
            shown = {k: (f">{TAB_CAP}" if v > TAB_CAP else v) for k, v in counts.items()}
            print(f"  {name}: {shown}")
    problems = [
        f"{name}: {counts} Tab presses (target: under {TAB_TARGET})"
        for name, counts in tab_counts.items()
        if min(counts.values()) >= TAB_TARGET
    ]
    assert not problems, "\n".join(problems)


def test_interactive_figures_announce_values_and_images(reports: dict[str, dict]) -> None:
    """A named group; sliders announce the shown value; every control moves; alts in words."""
    problems = []
    for name, report in reports.items():
        for k, s in enumerate(report["access"]["steppers"]):
            where = f"{name}: figure {k}"
            if s["role"] != "group" or not s["label"].strip():
                problems.append(f"{where} is not a named group ({s['role']!r}, {s['label']!r})")
            if s["live"] != "polite" or s["liveText"] != s["shownAlt"]:
                problems.append(f"{where} has no live region holding the shown image's alt text")
            if len(set(s["alts"])) != len(s["alts"]):
                problems.append(f"{where}: {len(s['alts'])} states, {len(set(s['alts']))} alts")
            problems += [f"{where}: state alt: {p}" for a in s["alts"] for p in alt_problems(a)]
            for c in s["controls"]:
                if c["states"] < 2:
                    problems.append(f"{where}: control {c['name']!r} has a single state")
                if c["tag"] == "input" and c["valuetext"] != c["shown"]:
                    problems.append(
                        f"{where}: slider {c['name']!r} announces {c['valuetext']!r} "
                        f"(its index is {c['value']}) while it shows {c['shown']!r}"
                    )
    assert not problems, "\n".join(problems)


def test_interactive_controls_are_named_in_words(reports: dict[str, dict], capsys) -> None:
    """ "step size h", not "h"; a dropdown's options in words, not code names."""
    problems = []
    for name, report in reports.items():
        for k, s in enumerate(report["access"]["steppers"]):
            for c in s["controls"]:
                if not named_in_words(c["name"]):
                    problems.append(f"{name}: figure {k}: control named {c['name']!r}")
                bad = [o for o in c["options"] if alt_problems(o)]
                if bad:
                    problems.append(f"{name}: figure {k}: {c['name']!r} options {bad}")
    with capsys.disabled():
        print("\ncontrols without a name in words:\n  " + "\n  ".join(problems or ["none"]))
    assert not problems, "\n".join(problems)


def test_alt_texts_hold_no_tex_or_code_names(reports: dict[str, dict]) -> None:
    """Every image's alt text is words a screen reader can read (no $, \\, re_z)."""
    problems = [
        f"{name}: {image['src']}: {problem}"
        for name, report in reports.items()
        for image in report["images"]
        for problem in alt_problems(image["alt"] or "")
        if "placeholder" not in problem  # the placeholders: the next test, per page
    ]
    assert not problems, "\n".join(problems)


def _figures_lacking_findings(reports: dict[str, dict]) -> dict[str, list[str]]:
    """Per page, the figures whose alt text is a placeholder, has no finding or is not words."""
    pages = {}
    for name, report in reports.items():
        lacking = [
            f.get("alt", "")[:90]
            for f in report["access"]["figures"]
            if "nodelib-alt-placeholder" in f["classes"]
            or "nodelib-alt-no-finding" in f["classes"]
            or alt_problems(f["alt"])
        ]
        if lacking:
            pages[name] = lacking
    return pages


def _lines(pages: dict[str, list[str]]) -> list[str]:
    return [f"  {n}: {len(v)} figure(s): " + " | ".join(v) for n, v in pages.items()]


def test_every_figure_says_what_it_shows_and_finds(reports: dict[str, dict], capsys) -> None:
    """No placeholder ("Figure 3 on page ..."); every figure's alt text ends in its finding."""
    pages = _figures_lacking_findings(reports)
    total = sum(len(r["access"]["figures"]) for r in reports.values())
    count = sum(len(v) for v in pages.values())
    with capsys.disabled():
        print(
            f"\nfigures without a proper alt text: {count} of {total}\n" + "\n".join(_lines(pages))
        )
    assert not pages, "\n".join(_lines(pages))


def test_no_page_is_wider_than_the_window(reports: dict[str, dict]) -> None:
    """At every width from 320 to 1920 px, no page scrolls sideways."""
    problems = [
        f"{name}: {info['scrollWidth']} px wide in a {width} px window"
        for name, report in reports.items()
        for width, info in report["widths"].items()
        if info["scrollWidth"] > int(width) + PHONE_TOLERANCE_PX
    ]
    assert not problems, "\n".join(problems)


def test_one_search_box(reports: dict[str, dict]) -> None:
    problems = [
        f"{name}: {info['searchBoxes']} search boxes at {width} px"
        for name, report in reports.items()
        for width, info in report["widths"].items()
        if info["searchBoxes"] != 1
    ]
    assert not problems, "\n".join(problems)


def test_wide_equations_show_a_scroll_cue(reports: dict[str, dict]) -> None:
    """At phone width, an equation wider than the column shows that it scrolls, and the
    keyboard can scroll it."""
    problems, wide = [], 0
    for name, report in reports.items():
        for eq in report["phone_figures"]["wide"]:
            wide += 1
            if not eq["cue"] or not eq["keyboard"]:
                problems.append(
                    f"{name}: a wide equation without a cue or Tab stop: {eq['text']!r}"
                )
    assert wide, "no equation is wider than a phone's column: the test checks nothing"
    assert not problems, f"{len(problems)} of {wide}:\n" + "\n".join(problems[:30])


def test_figures_are_legible_on_a_phone(reports: dict[str, dict]) -> None:
    """A figure a phone shows with tick labels under 9 px opens at a legible size on a tap."""
    problems, small = [], 0
    for name, report in reports.items():
        for figure in report["phone_figures"]["small"]:
            small += 1
            if figure["enlarged"] < LEGIBLE_SCALE:
                problems.append(
                    f"{name}: …{figure['src']} is shown at {figure['scale']:.0%} of its size and "
                    f"a tap shows it at {figure['enlarged']:.0%}"
                )
    assert small, "no figure is small on a phone: the test checks nothing"
    assert not problems, "\n".join(problems)


def test_every_page_has_a_favicon(reports: dict[str, dict], web: dict, site: Path) -> None:
    problems = []
    for name, report in reports.items():
        path = _resolve(site, report["access"]["favicon"] or "", web["base"])
        if path is None or not path.is_file():
            problems.append(f"{name}: no favicon ({report['access']['favicon']!r})")
    assert not problems, "\n".join(problems)


def test_pdf_button_downloads_the_built_pdf(
    build: dict, reports: dict[str, dict], web: dict, site: Path
) -> None:
    if build.get("pdf") and build["pdf"][0] != 0:
        pytest.fail(f"scripts/build_pdf.py failed:\n{build['pdf'][1]}")
    problems, buttons = [], 0
    for name, report in reports.items():
        button = report["access"]["pdfButton"]
        if button is None:
            continue
        buttons += 1
        url = urljoin(web["base"] + name, button["href"] or "")
        path = _resolve(site, url, web["base"])
        if button["tag"] != "a" or path is None or not path.is_file():
            problems.append(f"{name}: the .pdf button is a {button['tag']} to {button['href']!r}")
        elif path.read_bytes()[:5] != b"%PDF-":
            problems.append(f"{name}: the .pdf button's {button['href']!r} is not a PDF")
    assert buttons, "no page has a .pdf button"
    assert not problems, "\n".join(problems[:10])


def test_chapter_downloads_hold_their_outputs(
    reports: dict[str, dict], web: dict, site: Path
) -> None:
    problems, chapters = [], 0
    for name, report in reports.items():
        if not name.startswith("chapters/"):
            continue
        chapters += 1
        path = _resolve(site, report["access"]["ipynbDownload"] or "", web["base"])
        if path is None or not path.is_file():
            problems.append(f"{name}: no .ipynb download")
            continue
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        images = sum("image/png" in o.get("data", {}) for c in cells for o in c.get("outputs", []))
        if not images:
            problems.append(f"{name}: the downloaded notebook has no figures (no outputs)")
    assert chapters, "no chapter page"
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def printed(reports: dict[str, dict], web: dict) -> dict[str, dict]:
    page = web["context"].new_page()
    page.set_viewport_size(PRINT_VIEWPORT)
    page.emulate_media(media="print")
    out = {}
    for name in reports:
        if name.startswith(PRINT_PAGES):
            page.goto(web["base"] + name, wait_until="load")
            page.evaluate("async () => { if (window.MathJax) await MathJax.startup.promise; }")
            out[name] = page.evaluate(PRINT_REPORT_JS)
    page.close()
    return out


def test_print_keeps_tables_whole_and_hints_and_solutions_open(printed: dict[str, dict]) -> None:
    assert len(printed) == len(PRINT_PAGES), f"printed {sorted(printed)}"
    for what in ("tables", "hints", "solutions"):
        assert sum(r[what] for r in printed.values()), f"no {what} on {sorted(printed)}"
    problems = [
        f"{name}: {kind}: {item!r}"
        for name, report in printed.items()
        for kind in ("cut", "folded")
        for item in report[kind]
    ]
    assert not problems, "\n".join(problems)


# --- interactions, once ------------------------------------------------------------------------


def test_solutions_start_hidden_and_open_on_click(reports: dict[str, dict], web: dict) -> None:
    pages = {name: r["solutions"] for name, r in reports.items() if r["solutions"]}
    if not pages:
        pytest.skip("no page has an exercise solution ({solution} directive) yet")
    page = web["context"].new_page()
    problems = []
    for name, ids in pages.items():
        page.goto(web["base"] + name, wait_until="load")
        for sid in ids:
            solution = page.locator(f'[id="{sid}"]')
            body = solution.locator(".admonition-title ~ *").first
            if body.is_visible():
                problems.append(f"{name}: solution {sid!r} is shown before a click")
                continue
            solution.locator("button.toggle-button").click()
            try:
                body.wait_for(state="visible", timeout=3000)
            except Exception:
                problems.append(f"{name}: solution {sid!r} does not open on click")
    page.close()
    assert not problems, "\n".join(problems)


def test_search_finds_chapter_6(web: dict, site: Path) -> None:
    chapter6 = sorted(site.glob("chapters/ch06_*.html"))
    assert chapter6, "no chapter 6 page in the build"
    target = str(chapter6[0].relative_to(site))
    assert SEARCH_TERM.lower() in chapter6[0].read_text(encoding="utf-8").lower(), (
        f"{target} no longer mentions {SEARCH_TERM!r}: pick another chapter-6 term here"
    )
    page = web["context"].new_page()
    page.goto(f"{web['base']}search.html?q={SEARCH_TERM}", wait_until="load")
    page.wait_for_selector("#search-results ul.search li a", timeout=20_000)
    found = page.eval_on_selector_all(
        "#search-results ul.search li a", "els => els.map(a => a.getAttribute('href'))"
    )
    page.close()
    assert any(href.split("#")[0].split("?")[0].endswith(target) for href in found), (
        f"searching {SEARCH_TERM!r} lists {found}, not {target}"
    )


def test_chapter_screenshots_saved(reports: dict[str, dict], capsys) -> None:
    chapters = [Path(n).stem for n in reports if n.startswith("chapters/")]
    folder = screenshot_dir()
    missing = [
        f"{stem}{suffix}.png"
        for stem in chapters
        for suffix in ("", "-phone")
        if not (folder / f"{stem}{suffix}.png").is_file()
        or (folder / f"{stem}{suffix}.png").stat().st_size == 0
    ]
    assert not missing, f"missing screenshots in {folder}: {missing}"
    timings = ", ".join(
        f"{k} {v:.1f} s" if isinstance(v, float) else f"{k} {v}" for k, v in TIMES.items()
    )
    with capsys.disabled():
        print(f"\nwebsite screenshots: {folder}\nwebsite test timings: {timings}")


def test_alt_text_extension_reads_plain_string_titles() -> None:
    """_ext/image_alt_text.py takes figure titles from a cell's source, f-strings excepted."""
    path = ROOT / "_ext" / "image_alt_text.py"
    spec = importlib.util.spec_from_file_location("_image_alt_text", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    source = (
        'ax.set_title("Global error against h")\n'
        'fig.suptitle(f"Euler, h = {h}")\n'
        "plot_orbit(ys, title='Phase portrait')\n"
        "ax.set_title(label)\n"
    )
    found = [m.group("text") for m in module._TITLE.finditer(source)]
    assert found == ["Global error against h", "Phase portrait"]
