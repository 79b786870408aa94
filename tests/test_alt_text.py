"""Alt texts in words (nodelib.course.alt_text): TeX read as words, a figure's axes summarised,
the notebook's finding added, and the alt text sent with each figure a kernel shows.

The website's side (that the alt text reaches every <img>, and that no TeX or placeholder is
left) is checked in a built book by tests/test_website.py.
"""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import nbformat
import pytest

from nodelib.course.alt_text import (
    describe,
    figure_alt,
    figure_summary,
    tex_to_words,
)

TEX_LEFT = re.compile(r"\$|\\[A-Za-z]|\^|_\{")


@pytest.mark.parametrize(
    ("label", "words"),
    [
        (
            "Parasitic root $-1.618$: divergence as $h \\to 0$",
            "Parasitic root -1.618: divergence as h to 0",
        ),
        ("planar flow: $w^\\top \\hat u$ = 0.50", "planar flow: w transposed u hat = 0.50"),
        ("$z_1$", "z₁"),
        ("$h^2$ and $h^{p+1}$", "h² and h to the power p+1"),
        ("$\\frac{1}{2}$", "1 over 2"),
        ("$\\mathrm{NFE}$ per step", "NFE per step"),
        ("$|R(z)| = 1$ on Re $z = 0$", "|R(z)| = 1 on Re z = 0"),
        ("$\\theta$ and $\\Lambda$", "θ and Λ"),
        ("re_z = -6", "re z = -6"),
        ("$\\Vert \\partial L / \\partial K_k \\Vert$", "‖ ∂ L / ∂ K k ‖"),
        ("no math", "no math"),
    ],
)
def test_tex_becomes_words(label: str, words: str) -> None:
    assert tex_to_words(label) == words
    assert not TEX_LEFT.search(tex_to_words(label))


def test_summary_reads_axes_scales_and_legend() -> None:
    fig, (left, right) = plt.subplots(1, 2)
    left.loglog([1, 2], [1, 4], label="Euler")
    left.loglog([1, 2], [1, 16], label="$\\mathrm{RK4}$")
    left.set(title="Global error", xlabel="step size $h$", ylabel="error")
    left.legend()
    right.plot([0, 1], [0, 1])
    right.set(xlabel="$t$", ylabel="$y_1$")
    fig.suptitle("Convergence")
    summary = figure_summary(fig)
    plt.close(fig)
    assert summary == (
        "Convergence. Panel 1 of 2, Global error: error against step size h, log-log; "
        "curves: Euler, RK4. Panel 2 of 2, y₁ against t"
    )


def test_describe_adds_the_finding_and_may_replace_the_summary() -> None:
    fig, ax = plt.subplots()
    ax.set(xlabel="$t$", ylabel="$y$")
    assert figure_alt(fig) == ("y against t.", False)
    describe(ax, "The solution decays.")
    assert figure_alt(fig) == ("y against t. The solution decays.", True)
    describe(fig, shows="The solution y against time t")  # a plotting function's words
    assert figure_alt(fig) == ("The solution y against time t. The solution decays.", True)
    with pytest.raises(TypeError, match="sentence"):
        describe(fig, "  ")
    with pytest.raises(TypeError, match="Figure or Axes"):
        describe("not a figure", "x")
    plt.close(fig)


KERNEL_SOURCE = """\
import matplotlib.pyplot as plt
from nodelib.course.book import describe

fig, ax = plt.subplots()
ax.plot([1, 2], [3, 4])
ax.set(xlabel="$h$", ylabel="error", title="Global error")
describe(fig, "It grows with $h$.")
plt.show()
fig, ax = plt.subplots()
ax.plot([1, 2])
ax.set(xlabel="$t$", ylabel="$y$")
"""


def test_a_kernel_sends_each_figures_alt_text_with_its_image() -> None:
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(KERNEL_SOURCE)]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    images = [o for o in nb.cells[0].outputs if "image/png" in o.get("data", {})]
    meta = [o["metadata"]["image/png"] for o in images]
    assert meta == [
        {"alt": "Global error: error against h. It grows with h.", "alt_finding": True},
        {"alt": "y against t.", "alt_finding": False},
    ]
