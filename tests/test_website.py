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

Without Playwright or Chromium the module is skipped, unless NODE_COURSE_REQUIRE_BROWSER=1
(.ci/run sets it), which makes that a failure. See tests/_website.py for the other switches.
"""

from __future__ import annotations

import importlib.util
import os
import re
import time
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest
import yaml
from _notebooks import TIMES as NOTEBOOK_TIMES
from _scripts import ROOT
from _website import (
    DESKTOP,
    HTML,
    PAGE_REPORT_JS,
    PHONE,
    PHONE_REPORT_JS,
    RAW_MATH,
    browser_missing,
    build_book,
    is_known_console_error,
    launch_browser,
    local_ids,
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
MAX_CODE_LINES = 25
FAILURE_WORDS = ("Traceback", "NotImplementedError", "[FAIL]", "ChecksFailed")
PHONE_TOLERANCE_PX = 2
MIN_FONT_PX = 14
TIMES: dict[str, float] = {}


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
    result = build_book()
    TIMES["build"] = time.perf_counter() - start
    output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)  # no colours
    return {"returncode": result.returncode, "output": output, "since": since}


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
    for name in pages:
        current.update(console=[], failed=[])
        chapter = name.startswith("chapters/")
        desktop.goto(base + name, wait_until="load")
        report = desktop.evaluate(PAGE_REPORT_JS)
        if chapter:
            desktop.screenshot(path=shots / f"{Path(name).stem}.png")
        phone.goto(base + name, wait_until="load")
        phone.evaluate(PAGE_REPORT_JS)  # waits for MathJax: typeset math has its final width
        report["phone"] = phone.evaluate(PHONE_REPORT_JS, [PHONE["width"], PHONE_TOLERANCE_PX])
        if chapter:
            phone.screenshot(path=shots / f"{Path(name).stem}-phone.png")
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
            if not image["loaded"]:
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


def test_pages_weigh_less_than_5_mb(pages: list[str], site: Path) -> None:
    """A page with its images (stepped figures are embedded) stays under 5 MB."""
    problems = []
    for name in pages:
        html_file = site / name
        text = html_file.read_text(encoding="utf-8")
        images = {
            (html_file.parent / unquote(src)).resolve()
            for src in re.findall(r'<img[^>]+src="([^"]+)"', text)
            if not src.startswith(("data:", "http"))
        }
        size = html_file.stat().st_size + sum(p.stat().st_size for p in images if p.is_file())
        if size > PAGE_LIMIT_BYTES:
            problems.append(f"{name}: {size / 1e6:.1f} MB with its images")
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
    page.close()
    assert not problems, "\n".join(problems)


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
