"""Statements ask, they do not dictate: no coding exercise shows the expression its solution types.

An exercise (a ``## Exercise Cx.y`` section of solutions/*.ipynb) has a *statement* (its
Markdown up to the cell of folded hints, solution-only text removed), hints, and solution
lines (the code between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` in the cells tagged
``question:Cx.y``). The statement may define the task, the names, shapes and conventions, but
it may not contain what the solution types:

1. no inline code of the statement that is an expression (it has an operator: ``dA @ u``)
   may occur in a solution line (compared without whitespace);
2. no solution line, translated to a skeleton of its maths (``torch.`` dropped, ``x.abs()``
   read as ``|x|``, ``**`` as ``^``, products, indices and spacing dropped), may occur in
   the statement's maths translated the same way (``y + h * f(t, y)`` is
   ``y_{n+1} = y_n + h\\, f(t_n, y_n)``), for skeletons of at least `MIN_SKELETON` characters;
3. where the formula went to a hint titled ``... the formula`` (the third hint, after the
   idea and a step), none of that hint's display formulas may be in the statement.

The first tests show that each rule catches the statements the exercises used to have.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from _scripts import ROOT
from test_hints import DROPDOWN, HINT_TITLE, compact, solution_core

SOLUTIONS = sorted((ROOT / "solutions").glob("ch*.ipynb"))
HEADING = re.compile(r"^## Exercise (C\d+\.\d+)\b", re.MULTILINE)
BEGIN, END = re.compile(r"^\s*# BEGIN SOLUTION"), re.compile(r"^\s*# END SOLUTION")
MD_SOLUTION = re.compile(r"<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->", re.DOTALL)
COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
MATHS = re.compile(r"\$\$(.+?)\$\$|\$([^$\n]+?)\$", re.DOTALL)
OPERATOR = re.compile(r"[\w)\]]\s*(?:\*\*|[-+*/@%]|[<>]=?|==)\s*[\w(\[.]")
MIN_SKELETON = 8  # shorter skeletons ("y+h", "t-t") say nothing by themselves
# Names the solutions use for what the statements write as maths (the course's notation page).
ALIASES = {"stability_function(a,b,z)": "r(z)", "lam": "λ", "theta": "θ", "delta": "δ"}


@dataclass
class Exercise:
    """One coding exercise of a solution notebook."""

    id: str
    statement: str = ""
    hints: list[tuple[str, str]] = field(default_factory=list)  # (title, body)
    lines: list[str] = field(default_factory=list)  # solution lines, as test_hints reads them


def exercises(path: Path) -> list[Exercise]:
    """The coding exercises of a solution notebook, in order."""
    found: list[Exercise] = []
    in_statement = False
    for cell in nbformat.read(path, as_version=4).cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type == "markdown" and "solution" not in tags:
            heading = HEADING.search(cell.source)
            if heading:
                found.append(Exercise(heading.group(1)))
                in_statement = True
            if found and "<details>" in cell.source:
                in_statement = False
                titles, bodies = HINT_TITLE.findall(cell.source), DROPDOWN.findall(cell.source)
                found[-1].hints += list(zip(titles, bodies, strict=False))
            elif found and in_statement:
                found[-1].statement += "\n" + COMMENT.sub("", MD_SOLUTION.sub("", cell.source))
        elif cell.cell_type == "code" and found and f"question:{found[-1].id}" in tags:
            inside = False
            for line in cell.source.splitlines():
                if BEGIN.match(line) or END.match(line):
                    inside = bool(BEGIN.match(line))
                elif inside and line.strip() and not line.strip().startswith("#"):
                    found[-1].lines.append(solution_core(line))
    return found


def code_skeleton(line: str) -> str:
    """A solution line as maths: no module prefixes, |x| for x.abs(), ^ for **, no products."""
    s = re.sub(r"\b(?:torch|self|math|np|nn\.functional)\.", "", line)
    s = re.sub(r"(\w+(?:\([^()]*\))?)\.abs\(\)", r"|\1|", s)
    s = s.replace("**", "^").replace(".T", "^t")
    s = re.sub(r"\[[^\[\]]*\]", "", s)  # indices: y[n] is y_n
    s = re.sub(r"[\s*@]", "", s).lower()
    for name, symbol in ALIASES.items():
        s = re.sub(rf"(?<![a-z_]){re.escape(name)}(?![a-z_])", symbol, s)
    return s


def maths_skeleton(tex: str) -> str:
    """LaTeX as the same skeleton: no spacing, subscripts or product signs; |x|, ^, <=."""
    s = re.sub(r"\\(?:left|right|big|Big|bigg|Bigg)\b|\\[,;!:]|\\q?quad\b|~", "", tex)
    s = re.sub(r"\\[lr][vV]ert\b|\\\|", "|", s)
    s = re.sub(r"\\leq?\b", "<=", s)
    s = re.sub(r"\\geq?\b", ">=", s)
    s = re.sub(r"\^\{?\\(?:mathsf\{T\}|top)\}?|\^\{?T\}?(?![a-zA-Z])", "^t", s)
    s = re.sub(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", s)
    s = re.sub(r"\\[dt]?frac(\d)(\d)", r"(\1)/(\2)", s)
    s = re.sub(r"e\^\{([^{}]*)\}", r"exp(\1)", s)
    s = re.sub(r"_\{[^{}]*\}|_\\?\w", "", s)
    s = re.sub(r"\\(?:cdot|times|odot|mathbf|mathrm|operatorname)\b", "", s)
    greek = {"lambda": "λ", "theta": "θ", "delta": "δ", "varepsilon": "ε", "epsilon": "ε"}
    s = re.sub(r"\\([a-zA-Z]+)", lambda m: greek.get(m.group(1), m.group(1)), s)
    return re.sub(r"[\s{}]", "", s).lower()


def formula_normal(tex: str) -> str:
    """A formula compared as LaTeX: spacing, sizing and final punctuation aside."""
    s = re.sub(r"\\(?:left|right|big|Big)\b|\\[,;!:]|\\q?quad\b|\s+", "", tex)
    return s.rstrip(".,;")


def typed_code(exercise: Exercise) -> list[str]:
    """Rule 1: inline code of the statement that is an expression of the solution."""
    solution = [compact(line) for line in exercise.lines]  # the lines, without whitespace
    return [
        span
        for span in INLINE_CODE.findall(exercise.statement)
        if OPERATOR.search(re.sub(r"\d[\d.]*e-\d+", "1", span))
        and len(compact(span)) >= 4
        and any(
            compact(span) in line or (len(line) >= MIN_SKELETON and line in compact(span))
            for line in solution
        )
    ]


def typed_maths(exercise: Exercise) -> list[str]:
    """Rule 2: solution lines whose skeleton the statement's maths contains."""
    tex = " ".join(a or b for a, b in MATHS.findall(exercise.statement))
    statement = maths_skeleton(tex)
    skeletons = {code_skeleton(line): line for line in exercise.lines}
    return [line for s, line in skeletons.items() if len(s) >= MIN_SKELETON and s in statement]


def formula_shown(exercise: Exercise) -> list[str]:
    """Rule 3: a formula of a "the formula" hint that the statement shows."""
    statement = formula_normal(" ".join(a or b for a, b in MATHS.findall(exercise.statement)))
    found = []
    for title, body in exercise.hints:
        if "the formula" in title:
            for a, b in MATHS.findall(body):
                formula = formula_normal(a or b)
                if len(formula) >= MIN_SKELETON and formula in statement:
                    found.append(formula)
    return found


def violations(exercise: Exercise) -> list[str]:
    return [
        *(f"{exercise.id}: the statement shows the code `{s}`" for s in typed_code(exercise)),
        *(f"{exercise.id}: the statement's maths is the line {s!r}" for s in typed_maths(exercise)),
        *(f"{exercise.id}: the statement shows the formula {f}" for f in formula_shown(exercise)),
    ]


# --- each rule can fail: the statements as they were ----------------------------------------

OLD_C11 = Exercise(
    "C1.1",
    "Explicit Euler follows the slope:\n$$\ny_{n+1} = y_n + h\\, f(t_n, y_n).\n$$\nWrite "
    "`euler_step(f, t, y, h)`.",
    lines=[solution_core("    return y + h * f(t, y)")],
)
OLD_C26 = Exercise(
    "C2.6",
    "The stability region is $\\{z : |R(z)| \\le 1\\}$. Write `in_stability_region(A, b, z)`.",
    hints=[("Hint 3: the formula", "\n$$\n|R(z)| \\le 1\n$$\n")],
    lines=[solution_core("    return stability_function(A, b, z).abs() <= 1")],
)
OLD_C51 = Exercise(
    "C5.1",
    "`torch.linalg.solve` solves the systems; `dA @ u` computes all the products at once.",
    lines=[solution_core("    return (db - dA @ u) @ lam  # row k")],
)


def test_rule_1_catches_an_expression_of_the_solution_in_inline_code() -> None:
    assert typed_code(OLD_C51) == ["dA @ u"]
    assert not typed_code(Exercise("C9.1", "use `torch.linalg.solve` and `dtype=torch.float64`",
                                   lines=OLD_C51.lines))  # fmt: skip


def test_rule_2_catches_the_solution_written_as_maths() -> None:
    assert typed_maths(OLD_C11) == ["y + h * f(t, y)"]
    assert maths_skeleton("|R(z)| \\le 1") == code_skeleton(OLD_C26.lines[0])
    assert not typed_maths(Exercise("C9.1", "Euler follows the slope $f(t_n, y_n)$.",
                                    lines=OLD_C11.lines))  # fmt: skip


def test_rule_3_catches_the_formula_hint_in_the_statement() -> None:
    assert formula_shown(OLD_C26) == ["|R(z)|\\le1"]
    moved = Exercise("C2.6", "The region where steps do not amplify.", hints=OLD_C26.hints)
    assert not formula_shown(moved)


# --- the course's exercises -----------------------------------------------------------------


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.name)
def test_no_statement_shows_what_its_solution_types(solution: Path) -> None:
    found = exercises(solution)
    assert found and all(e.statement.strip() and e.hints for e in found), solution.name
    assert all(e.lines for e in found if not e.id.startswith("C1.6")), [
        e.id for e in found if not e.lines
    ]
    problems = [v for e in found for v in violations(e)]
    assert not problems, "\n".join(problems)
