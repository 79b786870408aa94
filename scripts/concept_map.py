"""Draw the course's concept map, ``images/concept_map.svg``, shown on the book's first page.

The curriculum is a dependency graph of concepts: each box is a concept, coloured by the
chapter that teaches it, and an arrow ``A -> B`` means "B builds on A". Edit ``NODES`` and
``EDGES`` below, then run::

    python scripts/concept_map.py                 # rewrites images/concept_map.svg
    python scripts/concept_map.py --png out.png   # also writes a PNG preview

Uses matplotlib only. The output is deterministic for a given matplotlib version (no date
in the metadata, a fixed hash salt for SVG ids), so rerunning it leaves git clean; the SVG
records which matplotlib version drew it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "images" / "concept_map.svg"
# Recorded in the SVG: another matplotlib version draws slightly different paths.
CREATOR_PREFIX = "scripts/concept_map.py, matplotlib "

# Okabe–Ito colours: distinguishable with the common forms of colour blindness.
CHAPTERS = {
    1: ("ODE numerics I", "#0072B2"),
    2: ("ODE numerics II", "#56B4E9"),
    3: ("ResNets as ODEs", "#009E73"),
    4: ("Normalising flows", "#E69F00"),
    5: ("Adjoint and autodiff", "#CC79A7"),
    6: ("Neural ODEs", "#D55E00"),
}

# Grid: five columns and six rows; a node's position is (column, row), row 0 at the top.
_COLUMNS = (1.3, 3.8, 6.3, 8.8, 11.3)
_ROWS = (7.2, 6.0, 4.8, 3.6, 2.4, 1.0)
BOX_WIDTH, BOX_HEIGHT = 2.15, 0.78

# name: (label, chapter, column, row)
NODES: dict[str, tuple[str, int, int, int]] = {
    "ivp": ("Initial value problem\n$y\\,' = f(t, y)$", 1, 0, 0),
    "euler": ("One-step methods\n(explicit Euler)", 1, 0, 1),
    "convergence": ("Consistency + stability\n⇒ convergence", 1, 0, 2),
    "rk": ("Runge–Kutta methods,\norder conditions", 2, 0, 3),
    "adaptive": ("Embedded pairs,\nadaptive step size", 2, 0, 4),
    "multistep": ("Linear multistep,\nzero-stability", 2, 1, 2),
    "stiffness": ("Absolute stability,\nstiffness", 2, 1, 3),
    "resnet": ("ResNet block\n= Euler step", 3, 1, 1),
    "dynamics": ("Networks as dynamics:\nstability, depth → ∞", 3, 2, 2),
    "chain": ("Chain rule,\nJVPs and VJPs", 5, 3, 0),
    "autodiff": ("Reverse-mode AD\n(backpropagation)", 5, 3, 1),
    "adjoint": ("Adjoint method\n(backwards in time)", 5, 3, 2),
    "cov": ("Change of variables\nfor densities", 4, 4, 0),
    "flows": ("Normalising flows\n(NICE, Real NVP)", 4, 4, 1),
    "vi": ("Variational inference\n(ELBO)", 4, 4, 4),
    "odenet": ("ODE-Net\n(Neural ODE)", 6, 2, 4),
    "cnf": ("Continuous normalising\nflows (FFJORD)", 6, 3, 4),
    "latent": ("Latent ODEs for\nirregular time series", 6, 3, 5),
}

# (from, to, label or "")
EDGES: list[tuple[str, str, str]] = [
    ("ivp", "euler", ""),
    ("euler", "convergence", ""),
    ("convergence", "rk", ""),
    ("rk", "adaptive", ""),
    ("convergence", "multistep", ""),
    ("multistep", "stiffness", ""),
    ("rk", "stiffness", ""),
    ("euler", "resnet", ""),
    ("resnet", "dynamics", ""),
    ("stiffness", "dynamics", ""),
    ("dynamics", "odenet", "steps → 0"),
    ("adaptive", "odenet", "the solver"),
    ("chain", "autodiff", ""),
    ("autodiff", "adjoint", ""),
    ("adjoint", "odenet", "gradients"),
    ("cov", "flows", ""),
    ("flows", "vi", ""),
    ("flows", "cnf", ""),
    ("odenet", "cnf", ""),
    ("odenet", "latent", ""),
    ("vi", "latent", ""),
]


def _centre(name: str) -> tuple[float, float]:
    _, _, column, row = NODES[name]
    return _COLUMNS[column], _ROWS[row]


def _tint(hex_colour: str, amount: float = 0.82) -> tuple[float, float, float]:
    """Mix a colour with white (amount 1 gives white) for a light box fill."""
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return tuple(c + (1.0 - c) * amount for c in (r, g, b))  # type: ignore[return-value]


def draw() -> plt.Figure:
    """Return the concept map as a matplotlib figure."""
    fig, ax = plt.subplots(figsize=(12.6, 8.0))
    ax.set_xlim(0.0, 12.6)
    ax.set_ylim(0.0, 8.0)
    ax.set_axis_off()
    patches = {}
    for name, (label, chapter, _, _) in NODES.items():
        x, y = _centre(name)
        colour = CHAPTERS[chapter][1]
        box = FancyBboxPatch(
            (x - BOX_WIDTH / 2, y - BOX_HEIGHT / 2),
            BOX_WIDTH,
            BOX_HEIGHT,
            boxstyle="round,pad=0.02,rounding_size=0.12",
            facecolor=_tint(colour),
            edgecolor=colour,
            linewidth=2.0,
            zorder=2,
        )
        ax.add_patch(box)
        patches[name] = box
        ax.text(x, y, label, ha="center", va="center", fontsize=10.5, color="#1a1a1a", zorder=3)
    for start, end, label in EDGES:
        arrow = FancyArrowPatch(
            posA=_centre(start),
            posB=_centre(end),
            patchA=patches[start],
            patchB=patches[end],
            arrowstyle="-|>",
            mutation_scale=14,
            linewidth=1.3,
            color="#555555",
            shrinkA=2,
            shrinkB=2,
            zorder=1,
        )
        ax.add_patch(arrow)
        if label:
            (x0, y0), (x1, y1) = _centre(start), _centre(end)
            ax.text(
                (x0 + x1) / 2,
                (y0 + y1) / 2 + 0.12,
                label,
                ha="center",
                va="bottom",
                fontsize=9,
                style="italic",
                color="#333333",
                zorder=3,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0},
            )
    handles = [
        Patch(facecolor=_tint(colour), edgecolor=colour, linewidth=2.0, label=f"{n}  {title}")
        for n, (title, colour) in CHAPTERS.items()
    ]
    ax.legend(
        handles=handles,
        title="Chapter",
        loc="lower left",
        bbox_to_anchor=(0.0, 0.0),
        ncols=2,
        fontsize=10,
        title_fontsize=10.5,
        frameon=False,
    )
    fig.tight_layout(pad=0.2)
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Draw images/concept_map.svg.")
    parser.add_argument("--png", type=Path, help="also write a PNG preview to this path")
    args = parser.parse_args(argv)
    plt.rcParams["svg.hashsalt"] = "neural-odes-concept-map"
    plt.rcParams["svg.fonttype"] = "path"  # glyphs as paths: looks the same without the font
    fig = draw()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    creator = f"{CREATOR_PREFIX}{matplotlib.__version__}"
    fig.savefig(OUTPUT, format="svg", metadata={"Date": None, "Creator": creator})
    if args.png:
        fig.savefig(args.png, dpi=110)
    plt.close(fig)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
