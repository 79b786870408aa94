"""The claims lint: every comparative or universal sentence of a notebook is checked or marked.

A sentence of a Markdown cell that contains one of `WORDS` ("faster", "close", "every", ...)
must be either *covered by a claim*, a ``claim(holds, "statement", ...)`` call in a code cell
of the same section (between two headings of level 1 or 2) whose statement appears in the
sentence and contains each such word of it, or *marked* right after the sentence, in the same
paragraph, with ``<!-- qualitative: why no number is compared -->`` or
``<!-- literature: the source -->``. ``scripts/check_claims.py --lint`` runs it; the rules in
full are in the module's functions and in the README.

What is read: the prose of Markdown cells, with inline and display maths, inline code, MyST
roles (``{glue:text}`x:.2f```), link targets and HTML tags masked (their words never count);
code blocks, headings, directive lines (``:::{exercise} Title``, ``:label: x``) and labels
are skipped. A solution notebook is read as its readers see it: the text of its
``<!-- BEGIN EXERCISE ... END EXERCISE -->`` blocks (shown only in the exercise notebook) is
read too, as its own paragraphs.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

# The words that make a sentence comparative or universal (whole words, any case).
_WORD_LIST = """
    more less fewer faster slower better worse larger smaller higher lower greater bigger
    cheaper costlier closer further longer shorter most least best worst largest smallest
    fastest slowest highest lowest cheapest closest close closely nearly almost roughly about
    approximately similar comparable identical exactly match matches matching agree agrees
    competitive every always never all any none nothing everywhere grow grows growing shrink
    shrinks decrease decreases increase increases falls rises drops improve improves beat
    beats outperform outperforms win wins reproduce reproduces dominates exceeds fast slow
    slowly quickly rapidly far significantly
"""
WORDS = frozenset(_WORD_LIST.split())
MARKER_KINDS = ("qualitative", "literature")

# A word of a hyphenated compound ("higher-order", "least-squares") does not count.
_WORD = re.compile(
    r"(?<![\w-])(?:" + "|".join(sorted(WORDS, key=len, reverse=True)) + r")(?![\w-])", re.I
)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_MARKER = re.compile(r"<!--\s*(" + "|".join(MARKER_KINDS) + r")\b\s*:?(.*?)-->", re.S | re.I)
_EXERCISE_BLOCK = re.compile(r"<!-- BEGIN EXERCISE\n(.*?)END EXERCISE -->\n?", re.S)
_SOLUTION_TAGS = re.compile(r"<!-- (?:BEGIN|END) SOLUTION -->\n?")
# Masked inside a paragraph: display and inline maths, roles and inline code, link
# targets, HTML tags and comments.
_MASKED = re.compile(
    r"\$\$.*?\$\$|(?<!\\)\$[^$]+?\$|(?:\{[\w:.-]+\})?`[^`]*`|\]\([^)]*\)|<!--.*?-->|</?\w[^>]*>",
    re.S,
)
# Technical terms whose word is no comparison ("a lower triangular matrix").
_TERMS = re.compile(r"\b(?:lower|upper)[- ]triangular\b", re.I)
_FILL = "\x01"  # what a masked character becomes: not a letter, not a space
_ABBREVIATIONS = re.compile(
    r"(?:\be\.g|\bi\.e|\bcf|\bvs|\bal|\betc|\bch|\bfig|\beq|\bsec|\bex|\bno|\bpp?)\.$", re.I
)
# A sentence ends at . ! or ? (and closing brackets or quotes) before a space and the start of
# the next sentence: a letter, maths or code (masked), a bracket or emphasis.
_SENTENCE_END = re.compile(r"[.!?][)\"'*_\]”]*\s+(?=[A-Za-z" + _FILL + r"(\[*_\"“])")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_SKIPPED_LINE = re.compile(r"^\s*(?:\(\S+\)=\s*$|:[\w-]+:(?:\s|$)|%|\+\+\+|\|?[\s:|-]+\|\s*$)")
_PROSE_FENCES = re.compile(
    r"\{(?:figure|note|warning|tip|important|caution|attention|hint|"
    r"seealso|admonition|margin|sidebar|dropdown|exercise|solution|"
    r"prf:\w+|epigraph|topic)\}"
)


@dataclass(frozen=True)
class Finding:
    """A sentence the lint rejects, or a marker it cannot read."""

    path: str
    cell: int
    section: str
    problem: str  # "unchecked", "marker without a reason", "marker after no sentence", ...
    sentence: str
    words: tuple[str, ...] = ()

    def __str__(self) -> str:
        words = f" [{', '.join(self.words)}]" if self.words else ""
        where = f"{self.path}, cell {self.cell} ({self.section})"
        return f"{where}: {self.problem}{words}: {self.sentence}"


@dataclass
class Report:
    """The lint's verdict on one notebook: its findings and what it counted."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    claimed: int = 0  # comparative sentences covered by a claim
    marked: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MARKER_KINDS, 0))
    unused_claims: list[str] = field(default_factory=list)  # statements found in no sentence

    def summary(self) -> str:
        marks = ", ".join(f"{n} {kind}" for kind, n in self.marked.items())
        text = (
            f"{self.path}: {len(self.findings)} finding(s); comparative or universal "
            f"sentences: {self.claimed} covered by a claim, {marks}"
        )
        if self.unused_claims:
            text += f"; {len(self.unused_claims)} claim(s) whose statement is in no sentence"
        return text


def _normalise(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return re.sub(r"\s+", " ", text.replace("\xa0", " ")).strip().lower()


def _claims_in(source: str) -> list[str]:
    """The statements of the ``claim(holds, "statement", ...)`` calls of a code cell."""
    code = "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
    )
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and "claim" in (
            getattr(node.func, "id", None),
            getattr(node.func, "attr", None),
        ):
            args = {**dict(enumerate(node.args)), **{k.arg: k.value for k in node.keywords}}
            statement = args.get(1, args.get("statement"))
            if isinstance(statement, ast.Constant) and isinstance(statement.value, str):
                found.append(statement.value)
    return found


def _paragraphs(source: str) -> list[tuple[str, str]]:
    """Split a Markdown cell into ("heading", level+text) and ("text", paragraph) blocks."""
    blocks: list[tuple[str, str]] = []
    lines: list[str] = []
    fence: str | None = None  # the closing fence of a skipped code block
    maths = False

    def flush() -> None:
        if lines:
            blocks.append(("text", "\n".join(lines)))
            lines.clear()

    for line in source.splitlines():
        stripped = line.strip()
        if fence is not None:
            if stripped.startswith(fence) and stripped.strip("`~") == "":
                fence = None
            continue
        if maths:  # a display maths block across lines: kept, masked later
            lines.append(line)
            maths = stripped.count("$$") % 2 == 0
            continue
        opener = re.match(r"^(`{3,}|~{3,}|:{3,})(.*)", stripped)
        if opener:
            flush()
            if not opener.group(1).startswith(":") and not _PROSE_FENCES.match(opener.group(2)):
                fence = opener.group(1)  # code (or maths) until the same fence closes it
            continue
        heading = _HEADING.match(line)
        if heading:
            flush()
            blocks.append(("heading", f"{len(heading.group(1))} {heading.group(2)}"))
        elif not stripped or _SKIPPED_LINE.match(line) or stripped.startswith("<summary"):
            flush()  # a hint's summary is a title, like a heading
        elif stripped.startswith("|") or _LIST_ITEM.match(line):
            flush()  # a table row and a list item each start a paragraph
            lines.append(line)
            if stripped.startswith("|"):
                flush()
        else:
            lines.append(line)
            maths = stripped.count("$$") % 2 == 1
    flush()
    return blocks


def _sentences(masked: str) -> list[tuple[int, int]]:
    """The (start, end) of each sentence of a masked paragraph."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(masked):
        before = masked[start : match.start() + 1].rstrip()
        if _ABBREVIATIONS.search(before):
            continue
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(masked)))
    return [(a, b) for a, b in spans if masked[a:b].strip()]


def _mask(text: str) -> str:
    """`text` with maths, code, roles, link targets and HTML replaced by `_FILL` (same length)."""
    text = _MASKED.sub(lambda m: _FILL * len(m.group()), text)
    return _TERMS.sub(lambda m: _FILL * len(m.group()), text)


def _claim_spans(text: str, statements: list[str]) -> tuple[list[tuple[int, int]], set[str]]:
    """Where in `text` each statement appears (case and whitespace aside), and which did."""
    chars, where = [], []  # the normalised text, and the index in `text` of each character
    for index, char in enumerate(text):
        if char.isspace():
            if not chars or chars[-1] == " ":
                continue
            char = " "
        chars.append(_normalise(char) or " ")
        where.append(index)
    flat = "".join(chars)
    spans, found = [], set()
    for statement in statements:
        wanted = _normalise(statement).rstrip(".").rstrip()
        for match in re.finditer(re.escape(wanted), flat) if wanted else ():
            spans.append((where[match.start()], where[match.end() - 1] + 1))
            found.add(statement)
    return spans, found


@dataclass
class _Verdicts:
    problems: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    claimed: int = 0
    marked: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MARKER_KINDS, 0))
    used: set[str] = field(default_factory=set)


def check_paragraph(text: str, statements: list[str]) -> _Verdicts:
    """Judge each sentence of one paragraph against the claims of its section.

    Args:
        text: the paragraph's Markdown source (code blocks and headings already removed).
        statements: the statements of every claim of the paragraph's section.

    Returns:
        The problems found, as (problem, sentence, words), and what was counted.
    """
    verdicts = _Verdicts()
    masked = _mask(text)
    spans = _sentences(masked)

    def shown(a: int, b: int) -> str:
        return re.sub(r"\s+", " ", _COMMENT.sub("", text[a:b])).strip()

    marked: dict[int, str] = {}
    for marker in _MARKER.finditer(text):
        before = text[: marker.start()].rstrip()
        owner = next((i for i, (a, b) in enumerate(spans) if a < len(before) <= b), None)
        if owner is None:
            verdicts.problems.append(("marker after no sentence", marker.group(), ()))
        elif not marker.group(2).strip():
            verdicts.problems.append(("marker without a reason", shown(*spans[owner]), ()))
        else:
            marked[owner] = marker.group(1).lower()
    claim_spans, verdicts.used = _claim_spans(text, statements)
    for index, (a, b) in enumerate(spans):
        words = [(m.group(), m.start()) for m in _WORD.finditer(masked, a, b)]
        if not words:
            continue
        if index in marked:
            verdicts.marked[marked[index]] += 1
            continue
        loose = tuple(w for w, at in words if not any(s <= at < e for s, e in claim_spans))
        if loose:
            verdicts.problems.append(("unchecked", shown(a, b), loose))
        else:
            verdicts.claimed += 1
    return verdicts


def _markdown_parts(source: str) -> list[tuple[bool, str]]:
    """(counts for sections, text): the solution reader's view, then the exercise text."""
    exercise = [m.group(1) for m in _EXERCISE_BLOCK.finditer(source)]
    solution = _SOLUTION_TAGS.sub("", _EXERCISE_BLOCK.sub("", source))
    return [(True, solution), *((False, text) for text in exercise)]


_LINE_START_MARKER = re.compile(r"^\s*<!--\s*(?:" + "|".join(MARKER_KINDS) + r")\b", re.I)


def misplaced_markers(source: str) -> list[str]:
    """Marker lines that would split their paragraph on the page.

    In Markdown an HTML comment at the start of a line opens an HTML block, which ends the
    paragraph above it, and the rest of its line is shown raw: a marker belongs at the end
    of its sentence's line. Returns the offending lines.
    """
    lines = source.split("\n")
    bad = []
    for i, line in enumerate(lines):
        if not _LINE_START_MARKER.match(line):
            continue
        before = lines[i - 1].strip() if i else ""
        rest = line.split("-->", 1)[1].strip() if "-->" in line else ""
        if (before and not before.endswith("-->")) or rest:
            bad.append(line.strip())
    return bad


def lint_notebook(path: str | Path, *, root: Path | None = None) -> Report:
    """Lint one notebook: every comparative or universal sentence claimed or marked.

    Args:
        path: a lecture or solution notebook.
        root: shown paths are relative to it (default: as given).

    Returns:
        The notebook's `Report`; it passes when ``report.findings`` is empty.
    """
    path = Path(path)
    shown = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
    nb = nbformat.read(path, as_version=4)
    sections: list[tuple[str, list[str]]] = [("before the first heading", [])]
    paragraphs: list[tuple[int, int, str]] = []  # (cell, section, text)
    early: list[Finding] = []  # findings about the source's layout, not its sentences
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            sections[-1][1].extend(_claims_in(cell.source))
            continue
        if cell.cell_type != "markdown":
            continue
        misplaced = misplaced_markers(cell.source)
        for line in misplaced:
            paragraphs_problem = "marker at the start of a line (it splits its paragraph)"
            early.append(Finding(shown, index, sections[-1][0], paragraphs_problem, line))
        for counts, part in _markdown_parts(cell.source):
            for kind, text in _paragraphs(part):
                level, _, title = text.partition(" ")
                if kind == "heading" and counts and int(level) <= 2:
                    sections.append((title.strip(), []))
                elif kind == "text":
                    paragraphs.append((index, len(sections) - 1, text))
    report, used = Report(shown, findings=early), set()
    for cell, section, text in paragraphs:
        title, statements = sections[section]
        verdicts = check_paragraph(text, statements)
        used |= verdicts.used
        report.claimed += verdicts.claimed
        for kind, n in verdicts.marked.items():
            report.marked[kind] += n
        report.findings += [
            Finding(shown, cell, title, problem, sentence, words)
            for problem, sentence, words in verdicts.problems
        ]
    report.unused_claims = [s for _, st in sections for s in st if s not in used]
    return report
