"""Question ids and chapter numbers: "C1.3" (a coding exercise), the old "1.3", "ch01", 1.

The coding exercises are numbered with a "C" (C1.1, C1.2, ...) so that they are not confused
with the chapters' written exercises (Exercise 1.1, ...). Notebooks saved before that carry
the old ids, in their check calls and their cell tags; both are read as the new ones.
"""

from __future__ import annotations

import re

__all__ = ["chapter_number", "normalise_id"]


def chapter_number(spec: str | int) -> int:
    """The chapter number of 1, "1", "ch01", or a question id "C1.3" (or the old "1.3").

    Raises:
        ValueError: spec is none of these.
    """
    match = re.fullmatch(r"(?:ch|c)?0*(\d+)(?:\.\d+)?", str(spec).strip(), re.IGNORECASE)
    if match is None:
        raise ValueError(f"not a chapter or question: {spec!r} (write e.g. 1, 'ch01' or 'C1.3').")
    return int(match.group(1))


def normalise_id(question_id: str) -> str:
    """A question id as the registry writes it: "C1.3" for "C1.3", "c1.3" and "1.3".

    The coding exercises were numbered "1.3" before they got the "C" that sets them apart
    from the chapters' written exercises; notebooks saved then still call check("1.3", ...).
    """
    text = str(question_id).strip()
    match = re.fullmatch(r"[cC]?(\d+\.\d+)", text)
    return f"C{match.group(1)}" if match else text
