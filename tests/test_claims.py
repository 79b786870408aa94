"""Claims: a sentence of the text checked against the numbers of the run
(nodelib.course.book.claim).

A false claim must stop the notebook in the book build (``_ext/strict_claims.py`` sets
``NODELIB_CLAIMS=strict`` for its kernels) and in the tests, and must only show a note in a
reader's own run. The end-to-end test takes chapter 1, flips the first claim it checks, and
builds a small book from it; the same notebook run as a reader runs it shows the note.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from _scripts import ROOT, load_script

from nodelib.course.book import DISAGREE_NOTE, claim, claims, glue_spread
from nodelib.errors import ClaimError

CHAPTER = ROOT / "chapters" / "ch01_ode_numerics_one_step.ipynb"


def test_a_true_claim_passes_in_strict_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODELIB_CLAIMS", "strict")
    assert claim(2 > 1, "Two is more than one.", a=2, b=1) is True


def test_a_false_claim_raises_in_strict_mode_with_its_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    monkeypatch.setenv("NODELIB_CLAIMS", "strict")
    with pytest.raises(ClaimError, match=r"'The plain model is worse\.'.*plain = \[0\.5, 0\.75\]"):
        claim(torch.tensor(False), "The plain model is worse.", plain=torch.tensor([0.5, 0.75]))


def test_a_false_claim_only_returns_false_in_a_readers_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NODELIB_CLAIMS", raising=False)
    assert claim(1 > 2, "One is more than two.", a=1) is False


@pytest.mark.parametrize("bad", [None, "yes", [True]])
def test_claim_needs_a_truth_value_and_a_sentence(bad: object) -> None:
    with pytest.raises(TypeError, match="truth value"):
        claim(bad, "A sentence.")
    with pytest.raises(TypeError, match="sentence"):
        claim(True, "  ")


def test_glue_spread_gives_the_statistics_of_the_seeds() -> None:
    stats = glue_spread("acc", [0.9, 0.8, 1.0])
    assert stats["mean"] == pytest.approx(0.9)
    assert (stats["min"], stats["max"]) == (0.8, 1.0)
    assert stats["std"] == pytest.approx(0.1)  # the sample standard deviation
    with pytest.raises(ValueError, match="without NaN"):
        glue_spread("acc", [])


def test_the_claim_table_flags_a_claim_false_on_one_seed() -> None:
    table = load_script("check_claims").table
    runs = [
        {
            "chapter": "ch09_x",
            "seed": seed,
            "claims": [{"statement": "|A| beats B.", "holds": seed != 1, "numbers": {"a": 1.0}}],
        }
        for seed in (0, 1, 2)
    ]
    text, false = table(runs, [0, 1, 2])
    assert false == 1
    assert "| \\|A\\| beats B. |" in text and text.rstrip().endswith("FALSE on seed 1 |")


# --- end to end: a flipped claim of chapter 1 ------------------------------------------------


def _flipped_chapter(tmp: Path) -> tuple[Path, str]:
    """Chapter 1 up to its first claim, with that claim's condition negated."""
    nb = nbformat.read(CHAPTER, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or "claim(" not in cell.source:
            continue
        calls = [
            node
            for node in ast.walk(ast.parse(cell.source))
            if isinstance(node, ast.Call)
            and "claim" in (getattr(node.func, "id", None), getattr(node.func, "attr", None))
        ]
        if not calls:
            continue
        call = min(calls, key=lambda c: (c.lineno, c.col_offset))
        holds = ast.get_source_segment(cell.source, call.args[0])
        statement = ast.literal_eval(call.args[1])
        start = _offset(cell.source, call.args[0].lineno, call.args[0].col_offset)
        cell.source = cell.source[:start] + f"not ({holds})" + cell.source[start + len(holds) :]
        nb.cells = nb.cells[: index + 1]
        path = tmp / "chapter.ipynb"
        nbformat.write(nb, path)
        return path, statement
    raise AssertionError(f"{CHAPTER.name} checks no claim with nodelib.course.book.claim")


def _offset(source: str, lineno: int, col: int) -> int:
    lines = source.splitlines(keepends=True)
    return sum(len(line) for line in lines[: lineno - 1]) + len(
        lines[lineno - 1].encode()[:col].decode()
    )


def _environment_without_claims() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("NODELIB_CLAIMS", None)  # the tests' own strict setting must not leak in
    return env


@pytest.fixture(scope="module")
def flipped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return _flipped_chapter(tmp_path_factory.mktemp("flipped"))


def test_a_flipped_claim_fails_the_book_build(flipped: tuple[Path, str], tmp_path: Path) -> None:
    path, statement = flipped
    book = tmp_path / "book"
    (book / "_ext").mkdir(parents=True)
    shutil.copy(ROOT / "_ext" / "strict_claims.py", book / "_ext")
    shutil.copy(path, book / "chapter.ipynb")
    (book / "_toc.yml").write_text("format: jb-book\nroot: chapter\n")
    (book / "_config.yml").write_text(
        "title: flipped\nexecute:\n  execute_notebooks: force\n  raise_on_error: true\n"
        "  timeout: 300\nsphinx:\n  local_extensions:\n    strict_claims: _ext/\n"
    )
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run(
        [str(jupyter_book), "build", "--keep-going", str(book)],
        capture_output=True,
        text=True,
        env=_environment_without_claims(),
        timeout=600,
    )
    log = result.stdout + result.stderr
    assert result.returncode != 0, log[-3000:]
    assert "ClaimError" in log and statement[:40] in log, log[-3000:]


def test_a_flipped_claim_shows_a_note_in_a_readers_run(flipped: tuple[Path, str]) -> None:
    from nbclient import NotebookClient

    path, statement = flipped
    nb = nbformat.read(path, as_version=4)
    os.environ.pop("NODELIB_CLAIMS")  # a reader's kernel: the variable is not set ...
    try:
        NotebookClient(
            nb, timeout=300, resources={"metadata": {"path": str(CHAPTER.parent)}}
        ).execute()
    finally:
        os.environ["NODELIB_CLAIMS"] = "strict"  # ... and the other tests stay strict
    shown = json.dumps([cell.get("outputs", []) for cell in nb.cells])
    assert DISAGREE_NOTE.split("**")[1] in shown
    verdicts = {c["statement"]: c["holds"] for c in claims(nb)}
    assert verdicts[statement] is False
