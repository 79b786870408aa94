"""nodelib.course.book in a real kernel: glued values as myst-nb reads them, and interactive
figures.

Interactive figures have two renderings (nodelib.course.interactive): live ipywidgets controls in
a reader's kernel, and in the book build (NODELIB_STATIC_FIGURES=1) an HTML block with one image
per combination of the listed states, switched by _static/stepper.js.
"""

from __future__ import annotations

import base64
import copy
import re

import ipywidgets
import nbformat
import pytest
from _notebooks import glued_floats
from myst_nb.ext.glue import extract_glue_data_cell

from nodelib.course.book import GLUE_PREFIX, glue, glued_values
from nodelib.course.interactive import MAX_STATES, static_states

SOURCE = """\
import os
os.environ.pop("NODELIB_STATIC_FIGURES", None)  # a reader's kernel: live controls
import ipywidgets, torch
import matplotlib.pyplot as plt
from nodelib.course.book import glue, interactive_figure

glue("slope", 2.0 + 1e-3)
glue("tensor", torch.tensor(0.25, dtype=torch.float64))
glue("label", "rk4", display=True)

calls = []
def draw(h, method):
    calls.append((h, method))
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, h])
    ax.set_title(method)
    return fig

slider = ipywidgets.FloatSlider(value=0.5, min=0.1, max=1.0)
interactive_figure(draw, {"h": slider, "method": ipywidgets.Dropdown(options=["a", "b"])})
slider.value = 0.75  # as a reader moving the slider
print(calls)
"""


def _run_in_a_kernel(source: str) -> nbformat.NotebookNode:
    """A one-cell notebook of `source`, executed in a fresh kernel."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    return nb


@pytest.fixture(scope="module")
def executed() -> nbformat.NotebookNode:
    return _run_in_a_kernel(SOURCE)


def test_glued_values_are_read_back(executed: nbformat.NotebookNode) -> None:
    values = glued_values(executed)
    assert values == {"slope": "2.001", "tensor": "0.25", "label": "'rk4'"}
    assert glued_floats(executed) == {"slope": 2.001, "tensor": 0.25}


def test_myst_nb_reads_the_same_glue_data(executed: nbformat.NotebookNode) -> None:
    cell = copy.deepcopy(executed.cells[0])
    data = dict(extract_glue_data_cell(cell))
    assert set(data) == {"slope", "tensor", "label"}
    assert data["slope"]["data"]["text/plain"] == "2.001"
    # Hidden values (display=False) leave the cell's visible outputs; displayed ones stay.
    kinds = [o.get("metadata", {}).get("scrapbook", {}).get("name") for o in cell.outputs]
    assert "slope" not in kinds and "label" in kinds


def test_interactive_figure_shows_one_image_updated_in_place(
    executed: nbformat.NotebookNode,
) -> None:
    outputs = executed.cells[0].outputs
    view = "application/vnd.jupyter.widget-view+json"
    widgets = [o for o in outputs if view in o.get("data", {})]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(widgets) == 1 and len(images) == 1
    # The figure was drawn at the defaults, then redrawn once when the slider moved; the
    # update replaced the image in place (an update_display_data, not a new image).
    stream = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    assert "[(0.5, 'a'), (0.75, 'a')]" in stream


def test_glue_rejects_a_bad_name() -> None:
    with pytest.raises(TypeError, match="non-empty string"):
        glue("", 1.0)


def test_glued_values_ignores_ordinary_outputs() -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/plain": "1"}),
        nbformat.v4.new_output(
            "display_data",
            data={GLUE_PREFIX + "text/plain": "3"},
            metadata={"scrapbook": {"name": "n", "mime_prefix": GLUE_PREFIX}},
        ),
    ]
    nb.cells = [cell]
    assert glued_values(nb) == {"n": "3"}


STATIC_SOURCE = """\
import os
os.environ["NODELIB_STATIC_FIGURES"] = "1"  # as in the book build
import ipywidgets
import matplotlib.pyplot as plt
from nodelib.course.book import interactive_figure

calls = []
def draw(h, method):
    calls.append((h, method))
    fig, ax = plt.subplots(figsize=(2, 2), dpi=50)
    ax.plot([0, 1], [0, h])
    ax.set_title(f"method {method}")
    return fig

slider = ipywidgets.FloatSlider(value=0.5, min=0.1, max=1.0)
menu = ipywidgets.Dropdown(options=[("first", "a"), ("second", "b")], value="b")
states = {"h": [0.1, 0.5, 1], "method": ["a", "b"]}
interactive_figure(draw, {"h": slider, "method": menu}, states=states)
print(sorted(calls))
"""


@pytest.fixture(scope="module")
def static_executed() -> nbformat.NotebookNode:
    return _run_in_a_kernel(STATIC_SOURCE)


def test_static_figure_holds_one_distinct_image_per_state(
    static_executed: nbformat.NotebookNode,
) -> None:
    outputs = static_executed.cells[0].outputs
    stream = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    # Every combination was drawn once: 3 values of h times both options of the dropdown.
    expected = sorted((h, m) for h in (0.1, 0.5, 1.0) for m in ("a", "b"))
    assert str(expected) in stream
    page = "".join(o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {}))
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    frame = r'<img data-state="([0-9,]+)" alt="([^"]*)" (?:data-)?src="([^"]+)"( hidden)?>'
    frames = re.findall(frame, page)
    assert sorted(f[0] for f in frames) == [f"{i},{j}" for i in range(3) for j in range(2)]
    shown = [f for f in frames if not f[3]]
    # Only the default state is visible at first: h = 0.5 (index 1), method "b" (index 1).
    assert [f[0] for f in shown] == ["1,1"]
    assert "method b" in shown[0][1] and "h = 0.5" in shown[0][1]
    pngs = {base64.b64decode(f[2].split(",", 1)[1]) for f in frames}
    assert len(pngs) == 6 and all(p.startswith(b"\x89PNG") for p in pngs)
    # The controls: a range over the three indices starting at 1, a select with the labels.
    assert re.search(r'type="range" min="0" max="2" step="1" value="1" data-control="h"', page)
    assert '<option value="1" selected>second</option>' in page
    # What a screen reader gets: the slider's shown value, the figure's name, the new image's
    # alt in a live region; only the shown image loads at first (the others in data-src).
    assert 'data-control="h" aria-valuetext="0.5"' in page
    assert 'role="group" aria-label="Interactive figure: ' in page
    assert f'aria-live="polite" aria-atomic="true">{shown[0][1]}</p>' in page
    assert page.count(" src=") == 1 and page.count(" data-src=") == 5
    notes = [o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    assert notes and "6 states" in notes[0]


def _controls() -> dict:
    return {
        "h": ipywidgets.FloatSlider(value=0.1, min=0.02, max=0.5),
        "n": ipywidgets.IntSlider(value=3, min=1, max=9),
        "method": ipywidgets.Dropdown(options=["euler", "rk4"], value="rk4"),
    }


def test_static_states_default_to_a_grid_with_the_default_value() -> None:
    chosen = static_states({"h": ipywidgets.FloatSlider(value=0.1, min=0.02, max=0.5)})
    assert chosen["h"][0] == pytest.approx(0.02) and chosen["h"][-1] == pytest.approx(0.5)
    assert any(v == pytest.approx(0.1) for v in chosen["h"]) and len(chosen["h"]) == 6
    chosen = static_states(_controls(), {"h": [0.1, 0.5]})
    assert chosen == {"h": [0.1, 0.5], "n": [3], "method": ["rk4"]}  # the rest stay at defaults


@pytest.mark.parametrize(
    ("states", "message"),
    [
        ({"dt": [0.1]}, "not controls"),
        ({"h": [0.1, 0.9]}, "outside"),
        ({"method": ["rk4", "dopri5"]}, "not one of"),
        ({"h": [0.2, 0.3]}, "default value"),
        ({"h": [0.02 + 0.01 * k for k in range(7)] + [0.1], "n": list(range(1, 10))}, "at most"),
    ],
)
def test_static_states_reject_what_the_widgets_cannot_show(states: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        static_states(_controls(), states)
    assert MAX_STATES == 36
