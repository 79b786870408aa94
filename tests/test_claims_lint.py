"""The claims lint (``scripts/check_claims.py --lint``, rules in ``scripts/claims_lint.py``).

Every sentence of a lecture or solution notebook that compares or generalises ("faster",
"close", "every", ...) must be covered by a `claim` of its section or marked as qualitative
or as a statement about the literature. The first tests build small notebooks to show what
the lint rejects and what it accepts; the last ones run it on every lecture and solution
notebook of the course, one test per notebook (``pytest tests/test_claims_lint.py -k ch03``).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from _scripts import ROOT, load_script

check_claims = load_script("check_claims")
lint_notebook = check_claims.lint_notebook


def _notebook(tmp_path: Path, *cells: str, name: str = "ch09_x.ipynb") -> Path:
    """A notebook of Markdown cells, and code cells for sources that start with ``>>>``."""
    nb = nbformat.v4.new_notebook()
    for source in cells:
        if source.startswith(">>>"):
            nb.cells.append(nbformat.v4.new_code_cell(source.removeprefix(">>>").strip()))
        else:
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
    path = tmp_path / name
    nbformat.write(nb, path)
    return path


def _problems(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    return [(f.problem, f.words) for f in lint_notebook(path).findings]


CLAIM = '>>> claim(a < b, "The ODE-Net is faster than the ResNet", a=a, b=b)'


def test_an_unchecked_comparison_is_found(tmp_path: Path) -> None:
    path = _notebook(tmp_path, "## Results\n\nThe ODE-Net is faster than the ResNet. Fine.")
    report = lint_notebook(path)
    assert [(f.problem, f.words, f.cell) for f in report.findings] == [
        ("unchecked", ("faster",), 0)
    ]
    assert report.findings[0].sentence == "The ODE-Net is faster than the ResNet."
    assert report.findings[0].section == "Results"


def test_a_claim_of_the_same_section_covers_its_sentence(tmp_path: Path) -> None:
    path = _notebook(
        tmp_path,
        "## Results",
        CLAIM,
        "### Details\n\nSo the ODE-Net\nis Faster than the "
        "ResNet, by {glue:text}`ratio:.1f` on every seed.",
    )
    report = lint_notebook(path)
    # the claim covers "faster" but not "every"
    assert [(f.problem, f.words) for f in report.findings] == [("unchecked", ("every",))]
    path = _notebook(
        tmp_path,
        "## Results",
        CLAIM,
        "### Details\n\nSo the ODE-Net\nis Faster than the ResNet, by {glue:text}`ratio:.1f`.",
    )
    report = lint_notebook(path)
    assert report.findings == [] and report.claimed == 1 and report.unused_claims == []


def test_a_claim_of_another_section_does_not_cover(tmp_path: Path) -> None:
    path = _notebook(
        tmp_path, "## Results", CLAIM, "## Discussion\n\nThe ODE-Net is faster than the ResNet."
    )
    assert _problems(path) == [("unchecked", ("faster",))]
    assert lint_notebook(path).unused_claims == ["The ODE-Net is faster than the ResNet"]


@pytest.mark.parametrize("kind", ["qualitative", "literature"])
def test_a_marker_right_after_the_sentence_explains_it(tmp_path: Path, kind: str) -> None:
    text = f"Every step is stable. <!-- {kind}: proved above -->\nThe next sentence is plain."
    report = lint_notebook(_notebook(tmp_path, text))
    assert report.findings == [] and report.marked[kind] == 1


def test_a_marker_explains_only_the_sentence_before_it(tmp_path: Path) -> None:
    text = "Every step is stable. <!-- qualitative: proved above --> It is always faster."
    assert _problems(_notebook(tmp_path, text)) == [("unchecked", ("always", "faster"))]


def test_a_marker_needs_a_reason_and_a_sentence_before_it(tmp_path: Path) -> None:
    path = _notebook(tmp_path, "Every step is stable. <!-- qualitative: -->")
    assert _problems(path) == [("marker without a reason", ()), ("unchecked", ("Every",))]
    path = _notebook(tmp_path, "Every step is stable.\n\n<!-- qualitative: a proof -->")
    assert sorted(_problems(path)) == [("marker after no sentence", ()), ("unchecked", ("Every",))]


def test_a_marker_that_starts_a_line_inside_a_paragraph_is_found(tmp_path: Path) -> None:
    # Markdown opens an HTML block at a line-initial comment: the paragraph splits there.
    split = "Every step is stable.\n<!-- qualitative: proved above -->\nThe next one is plain."
    assert _problems(_notebook(tmp_path, split)) == [
        ("marker at the start of a line (it splits its paragraph)", ())
    ]
    raw_rest = "Every step is stable.\n\n<!-- qualitative: a proof --> The rest shows raw."
    assert ("marker at the start of a line (it splits its paragraph)", ()) in _problems(
        _notebook(tmp_path, raw_rest)
    )
    at_line_end = "Every step is stable. <!-- qualitative: proved above -->\nThe next one is plain."
    assert _problems(_notebook(tmp_path, at_line_end)) == []


def test_maths_code_roles_links_headings_and_code_blocks_do_not_count(tmp_path: Path) -> None:
    text = (
        "# Every chapter\n\nWe solve $y' = f \\text{ for all } t$ with `every_step` and "
        "{glue:text}`faster_ratio:.2f`, see [the notes](more.html).\n\n$$\n\\text{always}\n$$\n\n"
        "```python\nx = all(y)  # never\n```\n\n:::{note} More\n:label: more-label\nPlain.\n:::"
    )
    report = lint_notebook(_notebook(tmp_path, text))
    assert report.findings == [] and report.claimed == 0


def test_hyphenated_compounds_and_abbreviations(tmp_path: Path) -> None:
    text = "A higher-order method, e.g. More's rule, is used. The least-squares fit is plain."
    # "e.g." ends no sentence, so "More's" belongs to the first one; compounds do not count
    assert _problems(_notebook(tmp_path, text)) == [("unchecked", ("More",))]
    # a sentence may start with a lower-case name; "i.e." and "vs." end no sentence
    text = "It is plain, i.e. the vs. case. dopri5 is always faster."
    assert [f.sentence for f in lint_notebook(_notebook(tmp_path, text)).findings] == [
        "dopri5 is always faster."
    ]


def test_tables_lists_and_hidden_exercise_text_are_read(tmp_path: Path) -> None:
    text = (
        "| result | verdict |\n|---|---|\n| an ODE-Net matches a ResNet | roughly |\n\n"
        "- first item\n- the error always falls\n\n"
        "<!-- BEGIN EXERCISE\nEvery test passes.\nEND EXERCISE -->\n"
        "<!-- BEGIN SOLUTION -->\nPlain.\n<!-- END SOLUTION -->"
    )
    assert _problems(_notebook(tmp_path, text)) == [
        ("unchecked", ("matches", "roughly")),
        ("unchecked", ("always", "falls")),
        ("unchecked", ("Every",)),
    ]


def test_the_command_line_exits_1_on_a_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _notebook(tmp_path, "It is always faster.", name="bad.ipynb")
    good = _notebook(tmp_path, "It is plain.", name="good.ipynb")
    assert check_claims.main(["--lint", str(bad)]) == 1
    assert "unchecked [always, faster]: It is always faster." in capsys.readouterr().out
    assert check_claims.main(["--lint", str(good)]) == 0


# --- the course's notebooks -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", check_claims.lint_paths([]), ids=lambda p: f"{p.parent.name}/{p.stem}"
)
def test_every_comparative_sentence_is_claimed_or_marked(path: Path) -> None:
    report = lint_notebook(path, root=ROOT)
    assert not report.findings, "\n".join(map(str, report.findings)) + "\n" + report.summary()


@pytest.mark.parametrize("prefix", ["ch01", "ch02"])
def test_every_claim_of_chapters_1_and_2_is_a_sentence_of_the_text(prefix: str) -> None:
    (path,) = (ROOT / "chapters").glob(f"{prefix}_*.ipynb")
    assert lint_notebook(path).unused_claims == []
