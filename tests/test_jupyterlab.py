"""The course run locally as the README says: JupyterLab on localhost, live interactive figures.

The README and the introduction promise that ``.venv/bin/jupyter lab`` opens the course and that
the interactive figures' controls are live there. This module checks that promise in headless
Chromium (Playwright driving Debian's Chromium, as tests/test_website.py does): it starts the
pinned JupyterLab on 127.0.0.1 with a copy of chapter 1 (so that JupyterLab's autosave cannot
write outputs into the repository), runs every cell from the Run menu, moves the θ-method
figure's first slider with the keyboard and waits for the figure's image to change: the kernel
redrew it (nodelib.course.interactive's live rendering, ipywidgets' JupyterLab extension).

Skipped without Playwright or Chromium, unless NODE_COURSE_REQUIRE_BROWSER=1 (.ci/run).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _scripts import ROOT
from _website import browser_missing, launch_browser, require_browser, screenshot_dir

pytestmark = pytest.mark.website

NOTEBOOK = "chapters/ch01_ode_numerics_one_step.ipynb"
RUN_ALL_SECONDS = 300  # the whole chapter in a fresh kernel, on a busy 2-core machine
REDRAW_SECONDS = 120


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A JupyterLab server on localhost serving a copy of the chapter; yields the URL."""
    missing = browser_missing()
    if missing:
        if require_browser():
            pytest.fail(f"{missing} (NODE_COURSE_REQUIRE_BROWSER is set)")
        pytest.skip(missing)
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(ROOT / NOTEBOOK, root / Path(NOTEBOOK).name)
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    for name in ("NODELIB_STATIC_FIGURES", "NODELIB_CLAIMS"):  # a reader's kernel: live
        env.pop(name, None)
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
        "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI containers run as root; a laptop does not need it
    log = open(root / "lab.log", "w")  # noqa: SIM115 (closed below, after the server)
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None:
                pytest.fail("JupyterLab exited:\n" + (root / "lab.log").read_text()[-3000:])
            time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not listen within 90 s")
        yield f"{base}/lab/tree/{Path(NOTEBOOK).name}?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _figure_image(page):
    """The image in the output of the cell that holds the first slider, and the slider."""
    cell = page.locator(".jp-Cell", has=page.locator(".widget-slider")).last
    return cell.locator(".jp-OutputArea-output img").last, cell.locator(".noUi-handle").first


def _run_all_cells(page) -> None:
    """Run > Run All Cells, once the kernel is idle; again if no cell started (a busy machine
    can leave the notebook not yet the current panel when the menu is used)."""
    deadline = time.monotonic() + 180
    while not page.locator("[data-status='idle']").count():  # the kernel has started
        accept = page.locator(".jp-Dialog .jp-mod-accept")
        if accept.count():  # e.g. a kernel chooser: take JupyterLab's default (the venv's)
            accept.first.click()
        if time.monotonic() > deadline:
            pytest.fail("the notebook's kernel did not become idle within 180 s")
        time.sleep(1)
    for _ in range(3):
        page.locator(".jp-Notebook .jp-Cell").first.click()  # the notebook is the current panel
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.locator("li.lm-Menu-item[data-command='runmenu:run-all']").click()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            prompts = " ".join(page.locator(".jp-InputPrompt").all_inner_texts())
            if re.search(r"\[(\*|\d+)\]", prompts):
                return
            time.sleep(1)
    pytest.fail("Run All Cells started no cell in 3 tries")


def _wait_for_the_slider(page) -> None:
    """Wait until the interactive figure's slider is drawn; fail at once on a traceback."""
    deadline = time.monotonic() + RUN_ALL_SECONDS
    while time.monotonic() < deadline:
        if page.locator(".widget-slider .noUi-handle").count():
            return
        failed = page.locator(".jp-OutputArea-output", has_text="Traceback")
        if failed.count():
            pytest.fail(f"a cell of {NOTEBOOK} raised in JupyterLab:\n{failed.first.inner_text()}")
        time.sleep(1)
    shown = page.locator(".jp-OutputArea-output").all_inner_texts()
    pytest.fail(
        f"no slider after {RUN_ALL_SECONDS} s; {len(shown)} outputs, the last ones: {shown[-3:]}"
    )


def test_jupyterlab_runs_a_chapter_and_its_controls_redraw_the_figure(lab: str) -> None:
    with launch_browser() as browser:
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        try:
            before, after, errors = _run_and_move_the_slider(page, lab)
        except BaseException:
            folder = screenshot_dir()  # what JupyterLab showed when it went wrong
            folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=folder / "jupyterlab-failure.png")
            raise
        finally:
            page.close()
    assert errors == 0, f"{errors} cells of {NOTEBOOK} raised in JupyterLab"
    assert after != before, f"moving the slider did not redraw the figure within {REDRAW_SECONDS} s"


def _run_and_move_the_slider(page, lab: str) -> tuple[str, str, int]:
    """Open the notebook, run it, press → on the slider: (image before, image after, errors)."""
    page.goto(lab, wait_until="load")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    _run_all_cells(page)
    _wait_for_the_slider(page)
    image, handle = _figure_image(page)
    image.wait_for(state="attached", timeout=RUN_ALL_SECONDS * 1000)
    before = image.get_attribute("src")
    assert before and before.startswith(("data:image/png", "blob:")), before
    handle.focus()  # the reader's keyboard on the slider's handle
    page.keyboard.press("ArrowRight")
    deadline = time.monotonic() + REDRAW_SECONDS
    after = before
    while time.monotonic() < deadline and after == before:
        time.sleep(0.5)
        after = _figure_image(page)[0].get_attribute("src")
    errors = page.locator(".jp-OutputArea-output", has_text="Traceback").count()
    return before, after, errors
