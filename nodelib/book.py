"""Helpers for the course notebooks: numbers glued into the text, and interactive figures.

- `glue(name, value)` records a value computed by a notebook so that the chapter text can
  show it with the MyST role ``{glue:text}`name:.3f` ``. It writes the same output as
  ``myst_nb.glue`` (which the book build reads), without needing myst-nb installed, so the
  notebooks also run in Colab. Every number a chapter states is computed and glued this way;
  `glued_values` reads them back from an executed notebook (the tests use it).
- `interactive_figure(draw, controls)` shows a figure drawn at the controls' default values
  as a plain image (what the website shows) and, in a live Jupyter or Colab kernel, the
  controls (ipywidgets) that redraw that same image in place.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["GLUE_PREFIX", "glue", "glued_values", "interactive_figure"]

# myst-nb's prefix for glued values that are not displayed in the cell's output.
GLUE_PREFIX = "application/papermill.record/"

LIVE_NOTE = (
    "*Interactive figure:* its controls are live when you run this notebook in Jupyter or "
    "Colab; this page shows the figure at their default values."
)


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


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", dpi=figure.dpi)
    return buffer.getvalue()


def interactive_figure(
    draw: Callable[..., Any],
    controls: Mapping[str, Any],
    *,
    note: bool = True,
) -> None:
    """Show `draw(**defaults)` as an image, with controls that redraw it in place.

    Args:
        draw: called with one keyword argument per control (its current value); returns a
            matplotlib Figure. It is closed after each drawing.
        controls: ipywidgets value widgets by keyword, e.g.
            ``{"h": FloatSlider(value=0.1, min=0.01, max=0.5), "method": Dropdown(...)}``.
            Their initial values draw the static figure.
        note: also show a line saying the controls are live in Jupyter or Colab.

    Raises:
        TypeError: a control has no ``value`` (not an ipywidgets value widget).
    """
    import matplotlib.pyplot as plt
    from IPython.display import Image, Markdown, display

    for key, widget in controls.items():
        if not hasattr(widget, "value") or not hasattr(widget, "observe"):
            raise TypeError(f"control {key!r} must be an ipywidgets value widget, got {widget!r}.")

    def render() -> bytes:
        figure = draw(**{key: widget.value for key, widget in controls.items()})
        try:
            return _png(figure)
        finally:
            plt.close(figure)

    if controls:
        import ipywidgets

        display(ipywidgets.VBox(list(controls.values())))
    # One image output, updated in place: the website keeps the default drawing.
    handle = display(Image(data=render(), format="png"), display_id=True)

    def redraw(_change: Any) -> None:
        handle.update(Image(data=render(), format="png"))

    for widget in controls.values():
        widget.observe(redraw, names="value")
    if note and controls:
        display(Markdown(LIVE_NOTE))
