"""Helpers for the course notebooks: numbers glued into the text, and interactive figures.

- `glue(name, value)` records a value computed by a notebook so that the chapter text can
  show it with the MyST role ``{glue:text}`name:.3f` ``. It writes the same output as
  ``myst_nb.glue`` (which the book build reads), without needing myst-nb installed, so the
  notebooks also run in Colab. Every number a chapter states is computed and glued this way;
  `glued_values` reads them back from an executed notebook (the tests use it).
- `claim(holds, statement, **numbers)` checks a sentence of the text against the numbers
  the cell computed. With ``NODELIB_CLAIMS=strict`` (the book build and the tests set it) a
  false claim raises `nodelib.errors.ClaimError`; in a reader's own run it shows a note that
  this run disagrees with the text. Either way the verdict is glued (key ``claim_...``), and
  `claims(nb)` reads every verdict back (``scripts/check_claims.py`` tabulates them).
- `glue_spread(name, values)` glues the mean, minimum, maximum and standard deviation of a
  result measured over several seeds.
- `interactive_figure(draw, controls, states=..., names=..., units=..., description=...)`
  (from `nodelib.course.interactive`, re-exported here): live controls in a Jupyter or Colab
  kernel; on the website, controls that step through states drawn when the book is built.
- `describe(fig, finding, shows=...)` (from `nodelib.course.alt_text`): what a figure shows and
  finds, in words: its alt text on the website. Importing this module makes the kernel send
  every figure's alt text with its image (`install_figure_alt_texts`).
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from nodelib.course.alt_text import describe, install_figure_alt_texts
from nodelib.course.interactive import interactive_figure
from nodelib.errors import ClaimError

__all__ = [
    "CLAIMS_VARIABLE",
    "GLUE_PREFIX",
    "claim",
    "claims",
    "describe",
    "glue",
    "glue_spread",
    "glued_values",
    "interactive_figure",
]

# Every figure a notebook shows from here on carries its alt text (a no-op outside IPython).
install_figure_alt_texts()

# myst-nb's prefix for glued values that are not displayed in the cell's output.
GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value: Any, *, display: bool = False) -> None:
    """Record `value` under `name` for the chapter text (myst-nb's glue format).

    Args:
        name: the key used in the text, as in ``{glue:text}`name``` or
            ``{glue:text}`name:.2f```. Keys must be unique within a notebook.
        value: a number, string or anything IPython can display; the text role uses its
            plain-text form (for numbers: ``repr``, so format specs like ``.3f`` work).
        display: also show the value in the cell's output.

    Raises:
        TypeError: `name` is not a non-empty string.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"glue needs a non-empty string name, got {name!r}.")
    from IPython.core.formatters import format_display_data
    from IPython.display import display as ipy_display

    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # a 0-d tensor or array: glue the Python number
    bundle, metadata = format_display_data(value)
    prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = {"name": name, "mime_prefix": prefix}
    ipy_display({prefix + k: v for k, v in bundle.items()}, raw=True, metadata=metadata)


def glued_values(nb: Mapping[str, Any]) -> dict[str, str]:
    """The plain-text form of every value glued in an executed notebook, by name.

    Args:
        nb: an executed notebook (an nbformat NotebookNode or its JSON dict).

    Returns:
        ``{name: text}``, e.g. ``{"rk4_interval": "2.785293563405282"}``.
    """
    found: dict[str, str] = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook")
            if output.get("output_type") != "display_data" or not scrap:
                continue
            text = output.get("data", {}).get(scrap.get("mime_prefix", "") + "text/plain")
            if text is not None:
                found[scrap["name"]] = "".join(text) if isinstance(text, list) else text
    return found


CLAIMS_VARIABLE = "NODELIB_CLAIMS"
_CLAIM_PREFIX = "claim_"

DISAGREE_NOTE = (
    "**This run disagrees with the text.** The text says: *{statement}* The numbers of this "
    "run: {numbers}.\n\n"
    "The text was checked on seeds 0 to 4 on a CPU. Results of training and timing depend "
    "on the seed (`NODELIB_SEED`), the hardware, the number of threads and the linear-algebra "
    "library, so a run elsewhere can land on the other side of a comparison. The code and "
    "the numbers above are right for this run; read the sentence as what usually happens."
)


def _plain(value: Any) -> Any:
    """A number, or a list of numbers, as plain Python floats (for JSON and messages)."""
    if hasattr(value, "tolist"):  # a tensor or an array, of any shape
        value = value.tolist()
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _format_number(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_format_number(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def claim(holds: Any, statement: str, **numbers: Any) -> bool:
    """Check a sentence of the chapter's text against the numbers this cell computed.

    Put it in the cell that computes the numbers a comparative or qualitative sentence
    rests on ("more", "fewer", "close to", "inside the disc", ...), with the sentence as
    the text says it, e.g. ``claim(acc_aug.min() > acc_plain.max(), "Augmentation
    improves the accuracy on every seed.", aug=acc_aug, plain=acc_plain)``.

    The environment variable ``NODELIB_CLAIMS`` says what a false claim does:
    ``strict`` (set by the book build and the tests) raises `ClaimError`; anything else,
    or unset (a reader's run in Jupyter or Colab), shows a note that this run disagrees
    with the text, and the notebook goes on.

    Args:
        holds: the truth of the sentence for this run (a bool, or a 0-d tensor or array).
        statement: the sentence, unique within the notebook.
        **numbers: the numbers it rests on (floats, or lists/tensors of per-seed values);
            they appear in the note, the error and ``scripts/check_claims.py``'s table.

    Returns:
        Whether the claim holds.

    Raises:
        TypeError: `statement` is not a non-empty string, or `holds` is not a truth value.
        ClaimError: the claim is false and ``NODELIB_CLAIMS=strict``.
    """
    if not isinstance(statement, str) or not statement.strip():
        raise TypeError(f"claim needs the sentence it checks as a string, got {statement!r}.")
    if hasattr(holds, "item"):
        holds = holds.item()
    if not isinstance(holds, bool):
        raise TypeError(
            f"claim's first argument must be a truth value (a comparison), got {holds!r}."
        )
    plain = {name: _plain(value) for name, value in numbers.items()}
    key = _CLAIM_PREFIX + hashlib.sha1(statement.encode()).hexdigest()[:10]
    glue(key, json.dumps({"statement": statement, "holds": holds, "numbers": plain}))
    if holds:
        return True
    shown = ", ".join(f"{name} = {_format_number(value)}" for name, value in plain.items())
    if os.environ.get(CLAIMS_VARIABLE, "").strip().lower() == "strict":
        raise ClaimError(
            f"The text claims: {statement!r}, but this run computed {shown or 'no numbers'}. "
            f"Change the sentence (or glue its wording from the numbers), or change the "
            f"experiment so that the claim holds on every seed."
        )
    from IPython.display import Markdown, display

    display(Markdown(DISAGREE_NOTE.format(statement=statement, numbers=shown or "none")))
    return False


def claims(nb: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every claim checked in an executed notebook, in the order of the cells.

    Args:
        nb: an executed notebook (an nbformat NotebookNode or its JSON dict).

    Returns:
        A list of ``{"statement": str, "holds": bool, "numbers": {name: value}}``.
    """
    found = []
    for name, text in glued_values(nb).items():
        if name.startswith(_CLAIM_PREFIX):
            found.append(json.loads(ast.literal_eval(text)))
    return found


def glue_spread(name: str, values: Sequence[float] | Any) -> dict[str, float]:
    """Glue the mean, minimum, maximum and standard deviation of per-seed results.

    The text then writes, e.g., ``{glue:text}`acc_mean:.3f``` (range
    ``{glue:text}`acc_min:.3f``` to ``{glue:text}`acc_max:.3f```).

    Args:
        name: the prefix; the keys are ``name_mean``, ``name_min``, ``name_max``,
            ``name_std`` (sample standard deviation, 0 for one value).
        values: the results, one per seed (a sequence, or a 1-d tensor or array).

    Returns:
        The four statistics, by their suffix ("mean", "min", "max", "std").

    Raises:
        ValueError: `values` is empty or holds a NaN.
    """
    flat = _plain(values)
    flat = [float(v) for v in (flat if isinstance(flat, list) else [flat])]
    if not flat or any(math.isnan(v) for v in flat):
        raise ValueError(f"glue_spread({name!r}) needs per-seed numbers without NaN, got {flat}.")
    mean = sum(flat) / len(flat)
    var = sum((v - mean) ** 2 for v in flat) / (len(flat) - 1) if len(flat) > 1 else 0.0
    stats = {"mean": mean, "min": min(flat), "max": max(flat), "std": math.sqrt(var)}
    for suffix, value in stats.items():
        glue(f"{name}_{suffix}", value)
    return stats
