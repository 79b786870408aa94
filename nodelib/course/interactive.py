"""Interactive figures: live controls in a kernel, precomputed states on the static website.

`interactive_figure(draw, controls, states=...)` has two renderings:

- **Live** (a reader's Jupyter or Colab kernel): the controls (ipywidgets) and one image that
  `draw` redraws in place whenever a control moves.
- **Static** (the book build and the tests: the environment variable ``NODELIB_STATIC_FIGURES``
  is ``1``; ``_ext/static_figures.py`` sets it for the build): `draw` is called once for every
  combination of the values listed in `states`, and the output is one HTML block with plain
  ``<input type="range">``/``<select>`` controls and all the images (``_stepper_html``).
  ``_static/stepper.js`` (a few lines, no CDN, no kernel) shows the image of the selected
  combination, so the controls work on the website.

Every reader gets the same figure: each control has a name in words ("step size h", not "h")
and, on the website, announces the value it shows with its unit (``aria-valuetext``); each
state's image has an alt text in words (`nodelib.course.alt_text`), which a screen reader
hears when the image changes; a value the website does not vary is shown as text, not as a
control that moves nowhere.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nodelib.course._stepper_html import _png, _same, static_html

__all__ = [
    "DEFAULT_NAMES",
    "MAX_STATES",
    "STATIC_VARIABLE",
    "interactive_figure",
    "static_note",
    "static_states",
]

STATIC_VARIABLE = "NODELIB_STATIC_FIGURES"
MAX_STATES = 36  # images per figure on the website: a page stays well under 5 MB
_DEFAULT_SLIDER_VALUES = 5


def _allowed(widget: Any) -> tuple[list[Any] | None, tuple[float, float] | None]:
    # (the options of a selection widget, or None; the (min, max) of a slider, or None)
    options = getattr(widget, "_options_values", None)
    if options is not None:
        return list(options), None
    if hasattr(widget, "min") and hasattr(widget, "max"):
        return None, (float(widget.min), float(widget.max))
    return None, None


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


# Names in words of the course's notation (the house vocabulary), used when a chapter gives
# none; any other control is named by its widget's description until the chapter names it.
DEFAULT_NAMES = {"h": "step size h", "t": "time t", "nfe": "number of function evaluations"}


def _names(controls: Mapping[str, Any], names: Mapping[str, str] | None) -> dict[str, str]:
    out = {}
    for key, widget in controls.items():
        given = (names or {}).get(key)
        default = DEFAULT_NAMES.get(key) or getattr(widget, "description", "") or key
        out[key] = " ".join(str(given or default).split())
    return out


def _check_words(
    controls: Mapping[str, Any], names: Mapping[str, str] | None, units: Mapping[str, str] | None
) -> None:
    for what, given in (("names", names), ("units", units)):
        unknown = sorted(set(given or {}) - set(controls))
        if unknown:
            raise ValueError(f"{what} has {unknown}, which are not controls: use {list(controls)}.")
        for key, text in (given or {}).items():
            if not isinstance(text, str) or (what == "names" and not text.strip()):
                raise TypeError(f"{what}[{key!r}] must be a string of words, got {text!r}.")


def interactive_figure(
    draw: Callable[..., Any],
    controls: Mapping[str, Any],
    *,
    states: Mapping[str, Sequence[Any]] | None = None,
    note: bool = True,
    names: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
    description: str | Callable[..., str] | None = None,
    label: str | None = None,
) -> None:
    """Show `draw(**values)` with controls: live in a kernel, stepped on the static website.

    Args:
        draw: called with one keyword argument per control; returns a matplotlib Figure, which
            is closed after each drawing.
        controls: ipywidgets value widgets by keyword, e.g.
            ``{"h": FloatSlider(value=0.1, min=0.01, max=0.5), "method": Dropdown(...)}``.
            Their initial values draw the first figure. A dropdown shows its options' labels:
            give them in words, ``Dropdown(options=[("Adams–Bashforth 2", "ab2"), ...])``.
        states: the values the website steps through, by control (see `static_states`):
            every combination is drawn once when the book is built, at most `MAX_STATES`. A
            control with one value there is shown as fixed text on the website.
        note: on the website, a line under the figure says how many states it holds and that
            every value is available in Jupyter or Colab.
        names: each control's name in words, by keyword, e.g. ``{"h": "step size h",
            "theta": "weight θ of the θ-method"}``: the label a reader sees and a screen reader
            reads (also in Jupyter). Default: `DEFAULT_NAMES` for the course's notation, else
            the widget's description.
        units: each control's unit, by keyword, e.g. ``{"t": "seconds"}``: appended to the
            value the website shows and announces. Default: none (a dimensionless value).
        description: each state's alt text in words: a function of the control values
            (called like `draw`) that returns the sentence, e.g. ``lambda h, theta: f"The
            θ-method with h = {h} ..."``; or one sentence for every state, after which the
            settings follow ("Shown for step size h = 0.1, ..."). Default: what the drawn
            figure shows (`nodelib.course.alt_text.figure_alt`), then the settings. TeX in
            it is turned into words.
        label: the figure's name for a screen reader (its group label). Default:
            "Interactive figure: " and the controls' names.

    Raises:
        TypeError: a control has no ``value`` (not an ipywidgets value widget), or a name,
            unit or description is not text.
        ValueError: `states`, `names` or `units` name something that is not a control (see
            also `static_states`).
    """
    import matplotlib.pyplot as plt
    from IPython.display import HTML, Image, Markdown, display

    for key, widget in controls.items():
        if not hasattr(widget, "value") or not hasattr(widget, "observe"):
            raise TypeError(f"control {key!r} must be an ipywidgets value widget, got {widget!r}.")
    if description is not None and not callable(description) and not isinstance(description, str):
        raise TypeError(f"description must be a sentence or a function, got {description!r}.")
    _check_words(controls, names, units)
    chosen = static_states(controls, states)  # checked in both renderings
    words = _names(controls, names)
    if os.environ.get(STATIC_VARIABLE, "") == "1":
        text = label or "Interactive figure: " + ", ".join(words.values())
        unit = {key: (units or {}).get(key, "").strip() for key in controls}
        page = static_html(
            draw, controls, chosen, names=words, units=unit, label=text, description=description
        )
        display(HTML(page))
        if note and controls:
            display(Markdown(static_note(math.prod(len(v) for v in chosen.values()))))
        return

    def render() -> bytes:
        figure = draw(**{key: widget.value for key, widget in controls.items()})
        try:
            return _png(figure)
        finally:
            plt.close(figure)

    if controls:
        import ipywidgets

        for key, widget in controls.items():
            widget.description = words[key]
            widget.style.description_width = "initial"  # the whole name, not cut at 8 em
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
