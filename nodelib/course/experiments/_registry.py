"""Which offline experiments exist, and the fingerprint of each one's code and settings.

An experiment is a module ``nodelib.course.experiments.<name>`` whose name starts with its
chapter (``ch06_classifiers``). It defines ``NAME`` (its module name), ``DESCRIPTION``,
``SETTINGS`` (a JSON-serialisable dict), ``DEPENDS`` (the nodelib modules its results depend
on, or single objects of them as ``"module:qualname"``) and
``run(seed, settings, *, device, progress)``; optionally ``USES`` (experiments whose shipped
results it reads, e.g. trained checkpoints) and ``metrics(result)`` (its headline numbers,
by name: what to compare between two runs of it).
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import io
import json
import pkgutil
import re
import textwrap
import tokenize
from types import ModuleType
from typing import Any

_PACKAGE = "nodelib.course.experiments"
_NAME = re.compile(r"^ch\d\d_[a-z0-9_]+$")
_REQUIRED = ("NAME", "DESCRIPTION", "SETTINGS", "DEPENDS", "run")


def names(chapter: str | None = None) -> list[str]:
    """The experiments, sorted; only those of `chapter` (e.g. "ch06" or "6") if given."""
    package = importlib.import_module(_PACKAGE)
    found = sorted(
        info.name for info in pkgutil.iter_modules(package.__path__) if _NAME.match(info.name)
    )
    if chapter is None:
        return found
    prefix = f"ch{int(chapter):02d}" if str(chapter).isdigit() else str(chapter)
    return [name for name in found if name.startswith(prefix + "_")]


def get(name: str) -> ModuleType:
    """The experiment module `name`, checked against the contract.

    Raises:
        ValueError: no experiment has this name, or its module lacks a required attribute.
    """
    if not isinstance(name, str) or name not in names():
        raise ValueError(f"no experiment {name!r}; the experiments are {names()}.")
    module = importlib.import_module(f"{_PACKAGE}.{name}")
    missing = [attr for attr in _REQUIRED if not hasattr(module, attr)]
    if missing or name != module.NAME:
        raise ValueError(
            f"{module.__name__} must define {', '.join(_REQUIRED)} with NAME == {name!r} "
            f"(missing: {missing or 'none'}, NAME = {getattr(module, 'NAME', None)!r})."
        )
    return module


def uses(name: str) -> tuple[str, ...]:
    """The experiments whose shipped results `name` reads (its ``USES``, default none)."""
    return tuple(getattr(get(name), "USES", ()))


def _docstring_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
        if isinstance(node, kinds) and node.body:
            first = node.body[0]
            value = first.value if isinstance(first, ast.Expr) else None
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                lines.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return lines


def normalised_source(source: str) -> str:
    """The code of a module without comments, docstrings, blank lines and trailing spaces.

    Editing a comment or a docstring, or a file's line endings, does not change an
    experiment's fingerprint; changing a line of code does. Only positions that every Python
    version reports alike are used (docstring line spans, comment tokens), so a fingerprint
    computed under one Python version holds under another.
    """
    source = source.replace("\r\n", "\n")
    lines = source.split("\n")
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:  # a comment runs to the end of its line
            row, col = tok.start
            lines[row - 1] = lines[row - 1][:col]
    skip = _docstring_lines(ast.parse(source))
    kept = [line.rstrip() for i, line in enumerate(lines, 1) if i not in skip]
    return "\n".join(line for line in kept if line)


def _source(entry: str) -> str:
    """The source of a DEPENDS entry: a module, or one object ``"module:qualname"`` of it."""
    module_name, _, qualname = entry.partition(":")
    module = importlib.import_module(module_name)
    if qualname:
        obj: Any = module
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return textwrap.dedent(inspect.getsource(obj))
    path = getattr(module, "__file__", None)
    if path is None:
        raise ValueError(f"DEPENDS names {entry!r}, which has no source file.")
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def fingerprint(name: str, settings: dict[str, Any] | None = None) -> str:
    """A hash of what an experiment's results depend on (the staleness check).

    It covers the experiment module's code, its settings (``SETTINGS`` unless `settings`
    is given), the code of each module (or ``"module:qualname"`` object) in its
    ``DEPENDS``, and the fingerprints of the experiments in its ``USES`` (so that retraining
    an upstream model makes this one stale). Comments and docstrings do not count
    (`normalised_source`).

    Returns:
        16 hexadecimal digits of a SHA-256.
    """
    module = get(name)
    digest = hashlib.sha256()
    chosen = module.SETTINGS if settings is None else settings
    digest.update(json.dumps(chosen, sort_keys=True).encode())
    for entry in (module.__name__, *sorted(module.DEPENDS)):
        digest.update(entry.encode())
        digest.update(normalised_source(_source(entry)).encode())
    for upstream in sorted(uses(name)):
        digest.update(f"uses {upstream} {fingerprint(upstream)}".encode())
    return digest.hexdigest()[:16]


def ordered(chosen: list[str]) -> list[list[str]]:
    """The experiments in `chosen` grouped into stages: each uses only earlier stages.

    Raises:
        ValueError: the ``USES`` of the experiments form a cycle.
    """
    remaining, stages, done = list(chosen), [], set()
    while remaining:
        ready = [n for n in remaining if all(u in done or u not in chosen for u in uses(n))]
        if not ready:
            raise ValueError(f"the USES of {remaining} form a cycle.")
        stages.append(ready)
        done.update(ready)
        remaining = [n for n in remaining if n not in ready]
    return stages
