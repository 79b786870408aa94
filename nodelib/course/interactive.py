"""Interactive figures: live controls in a kernel, precomputed states on the static website.

`interactive_figure(draw, controls, states=...)` has two renderings:

- **Live** (a reader's Jupyter or Colab kernel): the controls (ipywidgets) and one image that
  `draw` redraws in place whenever a control moves.
- **Static** (the book build and the tests: the environment variable ``NODELIB_STATIC_FIGURES``
  is ``1``; ``_ext/static_figures.py`` sets it for the build): `draw` is called once for every
  combination of the values listed in `states`, and the output is one HTML block with plain
  ``<input type="range">``/``<select>`` controls and all the images, embedded as data URIs.
  ``_static/stepper.js`` (a few lines, no CDN, no kernel) shows the image of the selected
  combination, so the controls work on the website.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["MAX_STATES", "STATIC_VARIABLE", "interactive_figure", "static_states"]

STATIC_VARIABLE = "NODELIB_STATIC_FIGURES"
MAX_STATES = 36  # images per figure on the website: a page stays well under 5 MB
_DEFAULT_SLIDER_VALUES = 5


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", dpi=figure.dpi)
    return buffer.getvalue()


def _allowed(widget: Any) -> tuple[list[Any] | None, tuple[float, float] | None]:
    # (the options of a selection widget, or None; the (min, max) of a slider, or None)
    options = getattr(widget, "_options_values", None)
    if options is not None:
        return list(options), None
    if hasattr(widget, "min") and hasattr(widget, "max"):
        return None, (float(widget.min), float(widget.max))
    return None, None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _derived_values(widget: Any) -> list[Any]:
    options, bounds = _allowed(widget)
    if options is not None:
        return options
    if bounds is None:
        return [widget.value]
    lo, hi = bounds
    grid = [
        lo + (hi - lo) * k / (_DEFAULT_SLIDER_VALUES - 1) for k in range(_DEFAULT_SLIDER_VALUES)
    ]
    if isinstance(widget.value, int):
        grid = [round(v) for v in grid]
    values = sorted({*grid, widget.value}, key=float)
    return values


def static_states(
    controls: Mapping[str, Any], states: Mapping[str, Sequence[Any]] | None = None
) -> dict[str, list[Any]]:
    """The values each control takes on the static website, checked against its widget.

    Args:
        controls: ipywidgets value widgets by keyword, as for `interactive_figure`.
        states: values per control name. ``None``: five evenly spaced values of every slider
            (plus its default) and every option of a selection widget. A control left out of
            a given `states` stays at its default value.

    Returns:
        ``{name: [values]}`` for every control, in the order of `controls`.

    Raises:
        ValueError: a name that is not a control, a value outside a slider's range or not
            among a dropdown's options, a list without the control's default value, or more
            than `MAX_STATES` combinations in all.
    """
    unknown = sorted(set(states or {}) - set(controls))
    if unknown:
        raise ValueError(f"states names {unknown}, which are not controls: use {list(controls)}.")
    chosen: dict[str, list[Any]] = {}
    for name, widget in controls.items():
        if states is None:
            values = _derived_values(widget)
        else:
            values = list(states.get(name, [widget.value]))
        if isinstance(widget.value, float):  # a float slider passes floats to draw, as live
            values = [float(v) if isinstance(v, int) else v for v in values]
        options, bounds = _allowed(widget)
        for value in values:
            if options is not None and not any(_same(value, o) for o in options):
                raise ValueError(f"states[{name!r}] has {value!r}, not one of {options}.")
            if bounds is not None and not bounds[0] - 1e-12 <= float(value) <= bounds[1] + 1e-12:
                raise ValueError(f"states[{name!r}] has {value!r}, outside {list(bounds)}.")
        if not any(_same(widget.value, v) for v in values):
            raise ValueError(
                f"states[{name!r}] must include the control's default value {widget.value!r}."
            )
        chosen[name] = values
    count = math.prod(len(v) for v in chosen.values())
    if count > MAX_STATES:
        sizes = {name: len(v) for name, v in chosen.items()}
        raise ValueError(
            f"{count} combinations of states {sizes}: at most {MAX_STATES} are drawn for the "
            "website; pass fewer values in states=."
        )
    return chosen


def _label(widget: Any, value: Any) -> str:
    labels = getattr(widget, "_options_labels", None)
    values = getattr(widget, "_options_values", None)
    if labels is not None and values is not None:
        for text, option in zip(labels, values, strict=True):
            if _same(option, value):
                return str(text)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _alt(figure: Any, settings: str) -> str:
    titles = [ax.get_title() for ax in figure.get_axes() if ax.get_title()]
    suptitle = figure._suptitle.get_text() if getattr(figure, "_suptitle", None) else ""
    return "; ".join([t for t in (suptitle, *titles) if t] + [settings])


def _control_html(name: str, widget: Any, labels: list[str], index: int) -> str:
    description = html.escape(getattr(widget, "description", "") or name)
    if getattr(widget, "_options_values", None) is not None:
        options = "".join(
            f'<option value="{k}"{" selected" if k == index else ""}>{html.escape(text)}</option>'
            for k, text in enumerate(labels)
        )
        field = f'<select data-control="{html.escape(name)}">{options}</select>'
    else:
        field = (
            f'<input type="range" min="0" max="{len(labels) - 1}" step="1" value="{index}" '
            f"data-control=\"{html.escape(name)}\" data-labels='{html.escape(json.dumps(labels))}'>"
            f"<output>{html.escape(labels[index])}</output>"
        )
    return f'<label class="nodelib-stepper-control">{description} {field}</label>'


def _static_html(draw: Callable[..., Any], controls: Mapping[str, Any], chosen: dict) -> str:
    import matplotlib.pyplot as plt

    names = list(chosen)
    labels = {n: [_label(controls[n], v) for v in chosen[n]] for n in names}
    start = [next(k for k, v in enumerate(chosen[n]) if _same(v, controls[n].value)) for n in names]
    frames = []
    for indices in itertools.product(*(range(len(chosen[n])) for n in names)):
        kwargs = {n: chosen[n][k] for n, k in zip(names, indices, strict=True)}
        figure = draw(**kwargs)
        try:
            settings = ", ".join(
                f"{n} = {labels[n][k]}" for n, k in zip(names, indices, strict=True)
            )
            data = base64.b64encode(_png(figure)).decode("ascii")
            alt = html.escape(_alt(figure, settings))
        finally:
            plt.close(figure)
        key = ",".join(map(str, indices))
        hidden = "" if list(indices) == start else " hidden"
        frames.append(
            f'<img data-state="{key}" alt="{alt}" src="data:image/png;base64,{data}"{hidden}>'
        )
    fields = "".join(
        _control_html(n, controls[n], labels[n], k) for n, k in zip(names, start, strict=True)
    )
    return (
        f'<div class="nodelib-stepper" data-nodelib-stepper>'
        f'<div class="nodelib-stepper-controls">{fields}</div>{"".join(frames)}</div>'
    )


def interactive_figure(
    draw: Callable[..., Any],
    controls: Mapping[str, Any],
    *,
    states: Mapping[str, Sequence[Any]] | None = None,
    note: bool = True,
) -> None:
    """Show `draw(**values)` with controls: live in a kernel, stepped on the static website.

    Args:
        draw: called with one keyword argument per control; returns a matplotlib Figure, which
            is closed after each drawing.
        controls: ipywidgets value widgets by keyword, e.g.
            ``{"h": FloatSlider(value=0.1, min=0.01, max=0.5), "method": Dropdown(...)}``.
            Their initial values draw the first figure.
        states: the values the website steps through, by control (see `static_states`):
            every combination is drawn once when the book is built, at most `MAX_STATES`.
        note: on the website, a line under the figure says how many states it holds and that
            every value is available in Jupyter or Colab.

    Raises:
        TypeError: a control has no ``value`` (not an ipywidgets value widget).
        ValueError: `states` is not valid for `controls` (see `static_states`).
    """
    import matplotlib.pyplot as plt
    from IPython.display import HTML, Image, Markdown, display

    for key, widget in controls.items():
        if not hasattr(widget, "value") or not hasattr(widget, "observe"):
            raise TypeError(f"control {key!r} must be an ipywidgets value widget, got {widget!r}.")
    chosen = static_states(controls, states)  # checked in both renderings
    if os.environ.get(STATIC_VARIABLE, "") == "1":
        display(HTML(_static_html(draw, controls, chosen)))
        if note and controls:
            count = math.prod(len(v) for v in chosen.values())
            display(Markdown(static_note(count)))
        return

    def render() -> bytes:
        figure = draw(**{key: widget.value for key, widget in controls.items()})
        try:
            return _png(figure)
        finally:
            plt.close(figure)

    if controls:
        import ipywidgets

        display(ipywidgets.VBox(list(controls.values())))
    handle = display(Image(data=render(), format="png"), display_id=True)

    def redraw(_change: Any) -> None:
        handle.update(Image(data=render(), format="png"))

    for widget in controls.values():
        widget.observe(redraw, names="value")


def static_note(count: int) -> str:
    """The line under a stepped figure on the website (`count` precomputed states)."""
    return (
        f"*Interactive figure:* the controls step through {count} states computed when this "
        "page was built; run the notebook in Jupyter or Colab to recompute it for any value."
    )
