"""nodelib.book in a real kernel: glued values as myst-nb reads them, and interactive figures."""

from __future__ import annotations

import copy

import nbformat
import pytest
from _notebooks import glued_floats
from myst_nb.ext.glue import extract_glue_data_cell

from nodelib.book import GLUE_PREFIX, LIVE_NOTE, glue, glued_values

SOURCE = """\
import ipywidgets, torch
import matplotlib.pyplot as plt
from nodelib.book import glue, interactive_figure

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


@pytest.fixture(scope="module")
def executed() -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SOURCE)]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    return nb


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
    notes = [o for o in outputs if "text/markdown" in o.get("data", {})]
    assert len(widgets) == 1 and len(images) == 1 and notes
    assert notes[0]["data"]["text/markdown"] == LIVE_NOTE
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
