"""Structure of the book: table of contents, notebooks, citations, configuration, CI.

These tests read files only (nothing is executed), so they are fast; the README's build
command is what executes the notebooks.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import matplotlib
import nbformat
import pytest
import yaml
from _scripts import ROOT, load_script

NOTEBOOK_DIRS = ("chapters", "exercises", "solutions")
# Roles that cite: {cite}, {cite:p}, {cite:t}, {cite:ps}, {cite:alp}, {cite:year}, ...
CITE_ROLE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
BIB_ENTRY = re.compile(r"^@(\w+)\s*\{\s*([^,\s]+)\s*,", re.MULTILINE)
README_COMMAND = re.compile(r"^python3 -m venv \.venv && .+$", re.MULTILINE)


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def setup_module_script() -> ModuleType:
    return load_script("notebook_setup")


def _toc_files(node: object) -> list[str]:
    """Every `file:` entry (and the root) of a _toc.yml, in order."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("file", "root") and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_toc_files(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_toc_files(item))
    return found


def _resolve_page(entry: str) -> Path | None:
    """The source file of a toc entry, which may omit its extension."""
    path = ROOT / entry
    if path.suffix in (".md", ".ipynb") and path.is_file():
        return path
    for suffix in (".md", ".ipynb"):
        if path.with_suffix(suffix).is_file():
            return path.with_suffix(suffix)
    return None


def _toc_entries() -> list[str]:
    return _toc_files(yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8")))


def _notebooks() -> list[Path]:
    return sorted(
        path
        for folder in NOTEBOOK_DIRS
        for path in (ROOT / folder).rglob("*.ipynb")
        if ".ipynb_checkpoints" not in path.parts
    )


def _book_sources() -> list[Path]:
    """Markdown pages and notebooks of the book (not README, tests, the venv, ...)."""
    pages = [p for p in ROOT.glob("*.md") if p.name != "README.md"]
    for folder in NOTEBOOK_DIRS:
        pages.extend((ROOT / folder).rglob("*.md"))
    return sorted(pages) + _notebooks()


def _text_of(path: Path) -> str:
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        return "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    return path.read_text(encoding="utf-8")


def _bib_keys() -> list[str]:
    return [key for _, key in BIB_ENTRY.findall((ROOT / "references.bib").read_text("utf-8"))]


# --- table of contents ---------------------------------------------------------------------


def test_toc_lists_intro_six_chapters_exercises_solutions_bibliography() -> None:
    entries = _toc_entries()
    assert entries[0] == "intro"
    chapters = [e for e in entries if e.startswith("chapters/")]
    assert [c.split("/")[1][:4] for c in chapters] == [f"ch0{i}" for i in range(1, 7)]
    for required in ("exercises/index", "solutions/index", "bibliography"):
        assert required in entries


@pytest.mark.parametrize("entry", _toc_entries())
def test_every_toc_entry_exists(entry: str) -> None:
    assert _resolve_page(entry) is not None, f"_toc.yml lists {entry!r}, but no such .md/.ipynb"


def test_every_chapter_notebook_is_in_the_toc() -> None:
    # only_build_toc_files is on: a chapter missing from the toc would vanish silently.
    listed = {_resolve_page(entry) for entry in _toc_entries()}
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        assert path in listed, f"{path.relative_to(ROOT)} is not in _toc.yml"


def test_every_toc_notebook_is_executed_by_the_tests() -> None:
    """So the build that follows the tests in CI finds each notebook in its cache (one run).

    Chapters run in tests/test_chapter_NN.py (`execute_notebook`); solution and exercise
    notebooks in tests/test_grading_notebooks.py (every solutions/ch*.ipynb).
    """
    for entry in _toc_entries():
        path = _resolve_page(entry)
        if path is None or path.suffix != ".ipynb":
            continue
        folder, name = path.parent.name, path.name
        if folder == "chapters":
            test = ROOT / "tests" / f"test_chapter_{name[2:4]}.py"
            assert test.is_file() and name in test.read_text(encoding="utf-8"), (
                f"chapters/{name} is executed by no test: call execute_notebook on it in {test}"
            )
        else:
            assert folder in ("solutions", "exercises"), f"{entry}: where is it executed?"
            assert (ROOT / "solutions" / name).is_file(), f"{entry} has no solution notebook"


# --- notebooks ------------------------------------------------------------------------------


def test_there_are_six_chapter_notebooks() -> None:
    assert len(list((ROOT / "chapters").glob("ch0[1-6]_*.ipynb"))) == 6


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_valid_python3_nbformat4(path: Path) -> None:
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    assert nb.nbformat == 4
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", _notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_starts_with_canonical_setup_cell(path: Path, setup_module_script) -> None:
    nb = nbformat.read(path, as_version=4)
    assert setup_module_script.has_setup_cell(nb), (
        f"{path.relative_to(ROOT)}: first cell differs from SETUP_CELL; "
        "run: python scripts/notebook_setup.py --write"
    )


@pytest.mark.parametrize(
    "path",
    [p for p in _notebooks() if p.relative_to(ROOT).parts[0] != "solutions"],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_notebook_has_no_stored_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {index} has stored outputs: clear them"
            assert cell.execution_count is None, f"cell {index} has an execution count"


@pytest.mark.parametrize("path", sorted((ROOT / "chapters").glob("*.ipynb")), ids=lambda p: p.name)
def test_chapter_has_title_and_readings(path: Path) -> None:
    text = _text_of(path)
    assert re.search(r"^# \S", text, re.MULTILINE), "no level-1 title"
    assert re.search(r"^## Readings\s*$", text, re.MULTILINE), "no '## Readings' section"
    assert CITE_ROLE.search(text), "the chapter cites nothing from references.bib"


def test_setup_cell_installs_pinned_branch_in_colab_only(setup_module_script) -> None:
    cell = setup_module_script.SETUP_CELL
    url = setup_module_script.REPOSITORY_URL
    branch = setup_module_script.COURSE_BRANCH
    lines = cell.splitlines()
    pip_lines = [line for line in lines if "%pip install" in line]
    assert len(pip_lines) == 1
    assert f"git+{url}@{branch}" in pip_lines[0]
    # The install is indented under the Colab test, so it never runs locally.
    guard = lines.index(next(line for line in lines if "google.colab" in line))
    assert lines[guard].startswith("if ") and pip_lines[0].startswith("    ")
    assert lines.index(pip_lines[0]) == guard + 1
    for needed in ("import torch", "import nodelib", "choose_device(", "seed_everything("):
        assert needed in cell


def test_setup_cell_runs_and_picks_a_device(setup_module_script) -> None:
    # Run the cell as plain Python (the magic line is skipped outside Colab).
    code = setup_module_script.SETUP_CELL.replace("%pip install", "pass  # pip install")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "device: " in result.stdout


def test_setup_check_script_agrees(setup_module_script) -> None:
    assert setup_module_script.main(["--check"]) == 0


# --- citations ------------------------------------------------------------------------------


def test_bib_keys_are_unique_and_entries_complete() -> None:
    text = (ROOT / "references.bib").read_text(encoding="utf-8")
    keys = _bib_keys()
    assert len(keys) == len(set(keys)), "duplicate keys in references.bib"
    assert len(keys) >= 27
    for chunk in re.split(r"^@", text, flags=re.MULTILINE)[1:]:
        key = chunk.split("{", 1)[1].split(",", 1)[0]
        for field in ("author", "title", "year"):
            assert re.search(rf"^\s*{field}\s*=", chunk, re.MULTILINE), f"{key}: no {field}"


@pytest.mark.parametrize("path", _book_sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cited_key_exists(path: Path) -> None:
    keys = set(_bib_keys())
    for group in CITE_ROLE.findall(_text_of(path)):
        for key in (k.strip() for k in group.split(",")):
            assert key in keys, f"{path.relative_to(ROOT)} cites {key!r}, not in references.bib"


def test_curriculum_readings_are_all_in_bibliography() -> None:
    required = {
        "suli2003", "quarteroni2007", "strang2007", "baydin2018automatic", "he2016deep",
        "lu2018beyond", "haber2018stable", "chang2018multilevel", "tabak2010density",
        "tabak2013family", "rezende2015variational", "dinh2017realnvp", "dinh2015nice",
        "chen2018neural", "grathwohl2019ffjord", "rubanova2019latent", "dupont2019augmented",
        "hairer1993solving", "hairer1996solving", "butcher2016numerical", "dormand1980family",
        "bogacki1989pair", "tsitouras2011runge", "kidger2021hey", "finlay2020train",
        "hutchinson1989stochastic", "gomez2017reversible",
    }  # fmt: skip
    assert required <= set(_bib_keys())


def test_bibliography_page_uses_the_directive() -> None:
    assert "```{bibliography}" in (ROOT / "bibliography.md").read_text(encoding="utf-8")


# --- configuration --------------------------------------------------------------------------


def test_config_repository_and_launch_buttons(config: dict) -> None:
    repo = config["repository"]
    assert repo["url"].startswith("https://github.com/")
    assert repo["branch"] == "main"
    assert "path_to_book" in repo
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["launch_buttons"].get("binderhub_url")


def test_config_fails_build_on_notebook_errors(config: dict) -> None:
    execute = config["execute"]
    assert execute["execute_notebooks"] in ("cache", "force", "auto")
    assert execute.get("allow_errors", False) is False
    assert execute.get("raise_on_error") is True or "-W" in _readme_commands()["build"]
    assert execute["timeout"] >= 60


def test_config_extensions_bibliography_and_excludes(config: dict) -> None:
    assert config["bibtex_bibfiles"] == ["references.bib"]
    extensions = config["sphinx"]["extra_extensions"]
    assert "sphinx_exercise" in extensions and "sphinx_proof" in extensions
    if "html_theme_options" in config["sphinx"].get("config", {}):
        assert config["sphinx"].get("recursive_update") is True
    for pattern in (".venv", "_build", "tests", "benchmarks", "README.md"):
        assert pattern in config["exclude_patterns"]


def test_repository_url_is_the_same_everywhere(config: dict, setup_module_script) -> None:
    url, branch = config["repository"]["url"], config["repository"]["branch"]
    assert url == setup_module_script.REPOSITORY_URL
    assert branch == setup_module_script.COURSE_BRANCH
    slug = url.removeprefix("https://github.com/")
    colab = f"https://colab.research.google.com/github/{slug}/blob/{branch}/"
    for name, value in config["parse"]["myst_substitutions"].items():
        if name.startswith("colab_"):
            assert colab in value, f"myst_substitutions.{name} does not point at {colab}"
    assert config["parse"]["myst_substitutions"]["repository_url"] == url
    assert colab in (ROOT / "README.md").read_text(encoding="utf-8")


# --- README and CI --------------------------------------------------------------------------


def _readme_commands() -> dict[str, str]:
    commands = README_COMMAND.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(commands) == 2, f"README.md should show exactly two commands, found {commands}"
    build = [c for c in commands if "jupyter-book build" in c]
    tests = [c for c in commands if "pytest" in c]
    assert len(build) == 1 and len(tests) == 1
    return {"build": build[0], "tests": tests[0]}


def test_readme_commands_set_up_their_own_environment() -> None:
    setup = "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt && "
    commands = _readme_commands()
    for command in commands.values():
        assert command.startswith(setup)
    assert commands["build"].endswith(".venv/bin/jupyter-book build -W -n --keep-going .")
    assert commands["tests"].endswith(".venv/bin/python -m pytest")


def test_ci_runs_the_readme_commands_verbatim_tests_first() -> None:
    ci = ROOT / ".ci" / "run"
    text = ci.read_text(encoding="utf-8")
    lines = text.splitlines()
    commands = _readme_commands()
    for command in commands.values():
        assert command in lines, f".ci/run does not run the README command {command!r}"
    assert lines.index(commands["tests"]) < lines.index(commands["build"])
    assert "set -euo pipefail" in lines
    assert ci.stat().st_mode & 0o111, ".ci/run is not executable"


# --- figures --------------------------------------------------------------------------------


def test_intro_shows_concept_map_with_alt_text() -> None:
    intro = (ROOT / "intro.md").read_text(encoding="utf-8")
    match = re.search(r"```\{figure\} images/concept_map\.svg\n(.*?)```", intro, re.DOTALL)
    assert match, "intro.md has no MyST figure of images/concept_map.svg"
    alt = re.search(r"^:alt: (.+)$", match.group(1), re.MULTILINE)
    assert alt and len(alt.group(1)) > 80, "the concept map needs a real alt text"


def test_concept_map_svg_is_up_to_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = load_script("concept_map")
    committed = ROOT / "images" / "concept_map.svg"
    drawn_with = re.search(
        re.escape(script.CREATOR_PREFIX) + r"([^<]+)<", committed.read_text(encoding="utf-8")
    )
    assert drawn_with, "images/concept_map.svg was not drawn by scripts/concept_map.py"
    if drawn_with.group(1) != matplotlib.__version__:
        pytest.skip(f"the SVG was drawn with matplotlib {drawn_with.group(1)}, not this one")
    monkeypatch.setattr(script, "OUTPUT", tmp_path / "concept_map.svg")
    monkeypatch.setattr(script, "ROOT", tmp_path)
    assert script.main([]) == 0
    assert (tmp_path / "concept_map.svg").read_bytes() == committed.read_bytes(), (
        "images/concept_map.svg is stale: run python scripts/concept_map.py"
    )


def test_singlehtml_gets_the_html_handlers_it_lacks() -> None:
    """_ext/singlehtml_handlers.py: what keeps scripts/build_pdf.py's one-page build working."""
    import importlib.util
    from types import SimpleNamespace

    spec = importlib.util.spec_from_file_location(
        "singlehtml_handlers", ROOT / "_ext" / "singlehtml_handlers.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    html, own = ("v", "d"), ("v2", "d2")
    handlers = {"html": {"definition_node": html, "shared": html}, "singlehtml": {"shared": own}}
    app = SimpleNamespace(registry=SimpleNamespace(translation_handlers=handlers))
    module._share_html_handlers(app)
    assert handlers["singlehtml"] == {"definition_node": html, "shared": own}
