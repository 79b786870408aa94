"""The HTML of an interactive figure on the static website (see nodelib.course.interactive).

One ``<div role="group">`` named after the figure holds: a control per varying value (a
``<select>`` or an ``<input type="range">`` over the state indices, with ``aria-valuetext``
giving the shown value and unit), the fixed values as text, one ``<img>`` per state (only the
shown one has a ``src``; the others keep theirs in ``data-src`` until shown), and a polite live
region that ``_static/stepper.js`` fills with the shown image's alt text, so that a screen
reader announces the new figure after a move. Images are PNG data URIs here;
``_ext/static_figures.py`` writes them to image files when the book is built.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from nodelib.course.alt_text import figure_alt, tex_to_words


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", dpi=figure.dpi)
    return buffer.getvalue()


def value_label(widget: Any, value: Any) -> str:
    """The text a control shows for `value` (a dropdown's label, a number as %g)."""
    labels = getattr(widget, "_options_labels", None)
    values = getattr(widget, "_options_values", None)
    if labels is not None and values is not None:
        for text, option in zip(labels, values, strict=True):
            if _same(option, value):
                return str(text)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _with_unit(label: str, unit: str) -> str:
    return f"{label} {unit}" if unit else label


def _control(key: str, name: str, unit: str, labels: list[str], index: int, select: bool) -> str:
    attr = html.escape(key)
    if select:
        options = "".join(
            f'<option value="{k}"{" selected" if k == index else ""}>{html.escape(text)}</option>'
            for k, text in enumerate(labels)
        )
        field = f'<select data-control="{attr}">{options}</select>'
    else:
        texts = [_with_unit(label, unit) for label in labels]
        field = (
            f'<input type="range" min="0" max="{len(labels) - 1}" step="1" value="{index}" '
            f'data-control="{attr}" aria-valuetext="{html.escape(texts[index])}" '
            f"data-labels='{html.escape(json.dumps(texts))}'>"
            f'<output aria-hidden="true">{html.escape(texts[index])}</output>'
        )
    return (
        f'<label class="nodelib-stepper-control"><span class="nodelib-stepper-name">'
        f"{html.escape(name)}</span> {field}</label>"
    )


def _fixed(name: str, unit: str, label: str) -> str:
    return (
        f'<span class="nodelib-stepper-fixed">{html.escape(name)} = '
        f"{html.escape(_with_unit(label, unit))} (fixed here)</span>"
    )


def _state_alt(
    figure: Any,
    values: dict[str, Any],
    settings: str,
    description: str | Callable[..., str] | None,
) -> str:
    if callable(description):
        text = description(**values)
        if not isinstance(text, str) or not text.strip():
            raise TypeError(f"description(**{values}) must return a sentence, got {text!r}.")
        return tex_to_words(text)
    head = description if description is not None else figure_alt(figure)[0]
    head = tex_to_words(head).rstrip(".")
    settings = tex_to_words(settings)  # a dropdown's code names (adams_bashforth2) as words
    return f"{head}. Shown for {settings}." if head else f"Shown for {settings}."


def static_html(
    draw: Callable[..., Any],
    controls: Mapping[str, Any],
    chosen: dict[str, list[Any]],
    *,
    names: dict[str, str],
    units: dict[str, str],
    label: str,
    description: str | Callable[..., str] | None,
) -> str:
    """The figure's HTML: every combination of `chosen` drawn once, with its controls."""
    import matplotlib.pyplot as plt

    keys = list(chosen)
    labels = {k: [value_label(controls[k], v) for v in chosen[k]] for k in keys}
    start = [next(i for i, v in enumerate(chosen[k]) if _same(v, controls[k].value)) for k in keys]
    varying = [n for n, k in enumerate(keys) if len(labels[k]) > 1]
    frames, status = [], ""
    for indices in itertools.product(*(range(len(chosen[k])) for k in keys)):
        values = {k: chosen[k][i] for k, i in zip(keys, indices, strict=True)}
        settings = ", ".join(
            f"{names[k]} = {_with_unit(labels[k][i], units[k])}"
            for k, i in zip(keys, indices, strict=True)
        )
        figure = draw(**values)
        try:
            data = base64.b64encode(_png(figure)).decode("ascii")
            alt = html.escape(_state_alt(figure, values, settings, description))
        finally:
            plt.close(figure)
        shown = list(indices) == start
        status = alt if shown else status
        source = "src" if shown else "data-src"
        state = ",".join(str(indices[n]) for n in varying)  # stepper.js: the controls' values
        frames.append(
            f'<img data-state="{state}" alt="{alt}" '
            f'{source}="data:image/png;base64,{data}"{"" if shown else " hidden"}>'
        )
    fields = []
    for k, i in zip(keys, start, strict=True):
        if len(labels[k]) == 1:  # a value the website does not vary is text, not a control
            fields.append(_fixed(names[k], units[k], labels[k][0]))
        else:
            select = getattr(controls[k], "_options_values", None) is not None
            fields.append(_control(k, names[k], units[k], labels[k], i, select))
    return (
        f'<div class="nodelib-stepper" data-nodelib-stepper role="group" '
        f'aria-label="{html.escape(label)}">'
        f'<div class="nodelib-stepper-controls">{"".join(fields)}</div>'
        f"{''.join(frames)}"
        f'<p class="nodelib-stepper-status nodelib-visually-hidden" aria-live="polite" '
        f'aria-atomic="true">{status}</p></div>'
    )
