"""Hints teach in steps and never hand over the answer.

Every coding exercise has, in the Markdown cell just above its stub, at least two folded hints
(HTML ``<details><summary>Hint 1: ...</summary>``: folded in JupyterLab, Colab and on the
website alike, with Markdown and maths inside). No hint, no stub message and no message of the
grader may contain a line of a reference solution: the code lines between ``# BEGIN SOLUTION``
and ``# END SOLUTION`` in solutions/*.ipynb, compared after normalisation (whitespace
collapsed, trailing comments dropped, a leading ``return`` or assignment target dropped so
that ``R = 1 + z * (x @ b)`` matches the solution's ``return 1 + z * (x @ b)``), and once more
with all whitespace removed. A hint also writes no statement ``name = expression`` in code.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import nbformat
import pytest
from _scripts import ROOT

SOLUTIONS = sorted((ROOT / "solutions").glob("ch*.ipynb"))
EXERCISES = [ROOT / "exercises" / p.name for p in SOLUTIONS]
GRADING = sorted((ROOT / "nodelib" / "course" / "grading").glob("*.py"))
BEGIN = re.compile(r"^\s*# BEGIN SOLUTION")
END = re.compile(r"^\s*# END SOLUTION")
DROPDOWN = re.compile(
    r"^<details>\n<summary>Hint\b[^\n]*</summary>\n(.*?)^</details>\s*$", re.DOTALL | re.MULTILINE
)
HINT_TITLE = re.compile(r"^<details>\n<summary>(Hint\b[^\n]*)</summary>$", re.MULTILINE)
STUB = re.compile(r"raise NotImplementedError\((?P<message>.*)\)")
MIN_LENGTH = 15  # shorter solution lines ("return y", "y = x") say nothing by themselves
MIN_COMPACT = 9  # the same, counted without whitespace ("1+z*(x@b)" counts)
# A line that only names what to call, as the exercise's text does: "super().__init__()",
# "with torch.enable_grad():", "torch.is_grad_enabled()", "row = torch.autograd.grad(".
NAMES_ONLY = re.compile(r"^(?:with\s+)?[\w.]+(?:\(\))?(?:\.[\w]+(?:\(\))?)*\(?:?$")
# The start of a line that is only a target: "return", "x =", "s, t =", "self.h =", "x +=".
TARGET = re.compile(r"^(?:return\s+|(?:[\w.\[\]]+\s*,\s*)*[\w.\[\]]+\s*[-+*/@]?=(?!=)\s*)")


def _strip_comment(line: str) -> str:
    """The line without a trailing comment (a '#' outside string literals)."""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(line + "\n").readline):
            if tok.type == tokenize.COMMENT:
                return line[: tok.start[1]]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # an unfinished line (an open bracket): no comment to find by tokens
    return line


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def compact(text: str) -> str:
    return re.sub(r"\s+", "", text)


def solution_core(line: str) -> str:
    """A solution line as it is compared: no comment, no target, whitespace collapsed."""
    return normalise(TARGET.sub("", normalise(_strip_comment(line))))


def solution_lines(paths: list[Path] = SOLUTIONS) -> dict[str, str]:
    """The non-trivial solution lines, core -> where it comes from."""
    found: dict[str, str] = {}
    for path in paths:
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if cell.cell_type != "code":
                continue
            inside = False
            for line in cell.source.splitlines():
                if BEGIN.match(line):
                    inside = True
                elif END.match(line):
                    inside = False
                elif inside:
                    core = solution_core(line)
                    if (
                        len(core) >= MIN_LENGTH
                        and len(compact(core)) >= MIN_COMPACT
                        and not NAMES_ONLY.match(core)
                    ):
                        found.setdefault(core, f"{path.name}, cell {index + 1}: {line.strip()}")
    return found


def hints(path: Path) -> list[str]:
    """The text of every hint dropdown (title and body) of a notebook."""
    out = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            titles = HINT_TITLE.findall(cell.source)
            bodies = DROPDOWN.findall(cell.source)
            out += [f"{t}\n{b}" for t, b in zip(titles, bodies, strict=False)]
    return out


def stub_messages(path: Path) -> list[str]:
    return [
        m.group("message")
        for cell in nbformat.read(path, as_version=4).cells
        if cell.cell_type == "code"
        for m in STUB.finditer(cell.source)
    ]


def string_literals(path: Path) -> list[str]:
    """Every string literal of a module; an f-string's parts joined around its fields."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out, inside_fstrings = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = []
            for value in node.values:
                inside_fstrings.add(id(value))
                parts.append(value.value if isinstance(value, ast.Constant) else "{...}")
            out.append("".join(str(p) for p in parts))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in inside_fstrings
        ):
            out.append(node.value)
    return out


def giveaways(texts: list[str], lines: dict[str, str]) -> list[str]:
    """The solution lines that occur in one of the texts, with where they come from."""
    found = []
    for text in texts:
        flat, squeezed = normalise(text), compact(text)
        for core, where in lines.items():
            if core in flat or compact(core) in squeezed:
                found.append(f"{where!r} in {normalise(text)[:100]!r}")
    return found


@pytest.fixture(scope="module")
def lines() -> dict[str, str]:
    found = solution_lines()
    assert len(found) > 50, "the solution regions were not found"
    return found


# --- the comparison itself can fail ---------------------------------------------------------


def test_the_comparison_catches_a_solution_line_written_differently() -> None:
    lines = {solution_core("    return 1 + z * (x @ b)"): "ch02"}
    assert giveaways(["hint: R = 1 + z * (x @ b)"], lines)
    assert giveaways(["R=1+z*(x@b)"], lines)
    assert not giveaways(["R(z) is 1 plus z times b^T x"], lines)
    core = solution_core("    lam = torch.linalg.solve(A.T, grad_g(u))  # the adjoint equation")
    assert core == "torch.linalg.solve(A.T, grad_g(u))"
    assert solution_core("s, t = scale_shift(z * mask)") == "scale_shift(z * mask)"
    assert solution_core("if x == '#': y += 1") == "if x == '#': y += 1"


def test_short_lines_are_ignored(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    source = "# BEGIN SOLUTION\nreturn y\nz = a_long_name(x, y)\n# END SOLUTION"
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, tmp_path / "ch09.ipynb")
    assert list(solution_lines([tmp_path / "ch09.ipynb"])) == ["a_long_name(x, y)"]
    for line in ("super().__init__()", "with torch.enable_grad():", "g = torch.autograd.grad("):
        assert NAMES_ONLY.match(solution_core(line)), line


def test_the_grader_texts_are_collected() -> None:
    texts = [t for path in GRADING for t in string_literals(path)]
    assert any("not implemented yet" in t for t in texts)
    sample = ROOT / "nodelib" / "course" / "grading" / "core.py"
    assert any("{...}" in t for t in string_literals(sample)), "f-strings are collected"


# --- the hints, stubs and messages of the course --------------------------------------------


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda p: p.name)
def test_no_hint_or_stub_gives_away_a_solution_line(exercise: Path, lines: dict[str, str]) -> None:
    texts = hints(exercise) + stub_messages(exercise)
    assert texts, f"{exercise.name} has no hints"
    assert not giveaways(texts, lines), "\n".join(giveaways(texts, lines))


def test_no_grader_message_gives_away_a_solution_line(lines: dict[str, str]) -> None:
    found = [
        f"{path.name}: {g}" for path in GRADING for g in giveaways(string_literals(path), lines)
    ]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda p: p.name)
def test_every_stub_has_two_hints_above_it(exercise: Path) -> None:
    cells = nbformat.read(exercise, as_version=4).cells
    questions = 0
    for index, cell in enumerate(cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type != "code" or not any(t.startswith("question:") for t in tags):
            continue
        questions += 1
        assert "raise NotImplementedError(" in cell.source, f"cell {index + 1} has no stub"
        above = cells[index - 1]
        assert above.cell_type == "markdown", f"cell {index + 1}: no Markdown cell above"
        titles = HINT_TITLE.findall(above.source)
        assert len(titles) >= 2 and len(DROPDOWN.findall(above.source)) == len(titles), (
            f"{exercise.name}, cell {index + 1}: fewer than two hint dropdowns above the stub"
        )
        assert all(len(body.strip()) > 20 for body in DROPDOWN.findall(above.source))
    assert questions >= 3


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda p: p.name)
def test_stubs_point_to_the_hints(exercise: Path) -> None:
    messages = stub_messages(exercise)
    assert messages
    assert set(messages) == {'"not implemented yet: open the hints above this cell"'}


CODE_ASSIGNMENT = re.compile(r"`[^`]*\b[A-Za-z_][\w.\[\]]*(?:\s*,\s*\w+)*\s+[-+*/@]?=\s+[^`]*`")


def test_the_assignment_check_can_fail() -> None:
    assert CODE_ASSIGNMENT.search("then `y = y + delta` until it converges")
    assert CODE_ASSIGNMENT.search("`s, t = scale_shift(x)`")
    assert not CODE_ASSIGNMENT.search("with `dtype=torch.float64`, and `theta == 0`, $x = 1$")


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda p: p.name)
def test_no_hint_writes_an_assignment_in_code(exercise: Path) -> None:
    """A hint says what to compute; a statement `name = expression` would be the answer."""
    found = [m.group(0) for text in hints(exercise) for m in CODE_ASSIGNMENT.finditer(text)]
    assert not found, found


PLAIN_ASSIGNMENT = re.compile(r"\b[A-Za-z_][\w.\[\]]*(?:\s*,\s*\w+)*\s+[-+*/@]?=\s+[^=\s]")


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda p: p.name)
def test_no_stub_message_writes_code(exercise: Path) -> None:
    """The old stubs spelled out steps ("J = jacrev(G)(y), delta = solve(J, -G(y)), ...")."""
    assert PLAIN_ASSIGNMENT.search("repeat: J = torch.func.jacrev(G)(y), y = y + delta")
    found = [m for m in stub_messages(exercise) if PLAIN_ASSIGNMENT.search(m)]
    assert not found, found


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_hint_titles_show_no_markdown(solution: Path) -> None:
    """A <summary> is raw HTML: Markdown there shows literally (`newton` with its backticks)."""
    titles = [t for c in nbformat.read(solution, as_version=4).cells
              if c.cell_type == "markdown" for t in HINT_TITLE.findall(c.source)]  # fmt: skip
    assert titles and not [t for t in titles if re.search(r"[`*_$]", t)], titles
