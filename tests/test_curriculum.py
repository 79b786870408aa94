"""The study guide's curriculum (../shared/CURRICULUM.md) is cited and mapped, as issue 14 asks.

- each chapter lists the guide's required readings under "Required reading";
- each written exercise taken from a textbook exercise names it in its title;
- the mapping page (curriculum.md) names every exercise of the guide, and each of its
  references resolves to a label of a chapter;
- written exercises (chapters, "Exercise 1.1") and coding exercises (exercise notebooks,
  "Exercise C1.1") never share a number;
- every chapter links to the notation page from its first section.
"""

from __future__ import annotations

import re

import nbformat
import pytest
from _scripts import ROOT

CHAPTERS = sorted((ROOT / "chapters").glob("ch0*.ipynb"))

# The guide's required readings per class: bibliography keys that the chapter's "Required
# reading" list must cite (where the guide offers "QSS or SM", either key is enough).
REQUIRED = {
    "ch01": [{"suli2003"}, {"quarteroni2007"}],
    "ch02": [{"quarteroni2007", "suli2003"}],
    "ch03": [{"chang2018multilevel"}, {"haber2018stable"}],
    "ch04": [{"tabak2010density"}, {"tabak2013family"}],
    "ch05": [{"strang2007"}, {"baydin2018automatic"}],
    "ch06": [{"chen2018neural"}],
}

# Written exercises taken from a textbook: label -> what their title must cite.
CITED_TITLES = {
    "ex-ch01-picard-linear": "Exercise 12.3",
    "ex-ch01-fifth-root": "Exercise 12.4",
    "ex-ch01-trapezoid-bound": "Exercise 12.7",
    "ex-ch01-heun-truncation": "§11.12, Exercise 1",
    "ex-ch02-three-step": "Exercise 12.11",
    "ex-ch02-consistency": "Exercise 12.12",
    "ex-ch02-gauss": "Exercise 12.19",
    "ex-ch05-matrix-cost": "§8.7, Exercise 1",
    "ex-ch05-chain-rule": "§8.7, Exercise 2",
    "ex-ch05-inner-product": "§8.7, Exercise 3",
    "ex-ch05-linear-ode": "(16)–(17)",
    "ex-ch05-integration-by-parts": "(14)–(15)",
}

# Every exercise the guide sets, as the mapping page names it.
GUIDE_EXERCISES = [
    "QSS §11.12, Exercise 1", "SM Exercise 12.3", "SM Exercise 12.4", "SM Exercise 12.7",
    "The θ-method", "SM Exercise 12.11", "SM Exercise 12.12", "SM Exercise 12.19",
    "CSE §8.7, Exercise 1", "CSE §8.7, Exercise 2", "CSE §8.7, Exercise 3",
    "(16)–(17)", "(14)–(15)", "Implement your favourite ResNet variant",
    "What $\\rho_t$ and $\\tilde\\rho_t$ represent", "$N \\times N$ determinant",
]  # fmt: skip


def _markdown(path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [cell.source for cell in nb.cells if cell.cell_type == "markdown"]


def _labels() -> set[str]:
    found = set()
    for path in CHAPTERS:
        for text in _markdown(path):
            found |= set(re.findall(r"^\(([\w-]+)\)=", text, re.MULTILINE))
            found |= set(re.findall(r"^:label: ([\w-]+)", text, re.MULTILINE))
    return found


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem[:4])
def test_required_readings_are_required(path) -> None:
    text = "\n".join(_markdown(path))
    readings = text[text.index("## Readings") :]
    required = readings[: readings.index("Optional reading")]
    cited = set(re.findall(r"\{cite:p\}`([^`]+)`", required))
    for keys in REQUIRED[path.stem[:4]]:
        assert keys & cited, f"{path.stem}: none of {keys} under 'Required reading'"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem[:4])
def test_chapter_links_the_notation_page_in_its_first_section(path) -> None:
    cells = _markdown(path)
    first = next(i for i, text in enumerate(cells) if re.search(r"^## ", text, re.MULTILINE))
    second = next(
        (i for i, t in enumerate(cells) if i > first and re.search(r"^\(sec-|^## ", t, re.M)),
        len(cells),
    )
    assert any("{ref}`notation`" in t for t in cells[:second]), path.stem


def test_textbook_exercises_cite_their_source_in_the_title() -> None:
    titles = {}
    for path in CHAPTERS:
        for text in _markdown(path):
            for title, label in re.findall(
                r"^:::\{exercise\} ?(.*)\n:label: ([\w-]+)", text, re.MULTILINE
            ):
                titles[label] = title
    for label, source in CITED_TITLES.items():
        assert label in titles, f"no written exercise labelled {label}"
        assert source in titles[label], f"{label}: title {titles[label]!r} does not cite {source}"


def test_mapping_page_names_every_exercise_of_the_guide_and_its_references_resolve() -> None:
    text = (ROOT / "curriculum.md").read_text(encoding="utf-8")
    missing = [name for name in GUIDE_EXERCISES if name not in text]
    assert not missing, f"curriculum.md does not name {missing}"
    unknown = set(re.findall(r"\{ref\}`([\w-]+)`", text)) - _labels() - {"notation"}
    assert not unknown, f"curriculum.md refers to labels no chapter defines: {sorted(unknown)}"
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert "file: curriculum" in toc and "file: notation" in toc


def test_written_and_coding_exercises_never_share_a_number() -> None:
    for path in sorted((ROOT / "exercises").glob("ch0*.ipynb")):
        headings = re.findall(r"^## Exercise (\S+?):", "\n".join(_markdown(path)), re.MULTILINE)
        assert headings, f"{path.name}: no exercise headings"
        assert all(re.fullmatch(r"C\d\.\d+", h) for h in headings), (path.name, headings)
