"""Alt texts of the course's figures: what a figure shows and what it finds, in plain words.

A screen reader reads a figure's alt text aloud, so it must be words: no TeX (``$h \\to 0$``
is read as "dollar h backslash to zero dollar"), no code names (``re_z``), no placeholder
("Figure 3"). An alt text here has two parts:

- **what the figure shows**: which quantity is plotted against which, and what the curves
  are. `figure_summary` reads it off the figure (axis labels, titles, legend entries, log
  scales), with the TeX of matplotlib's labels turned into words by `tex_to_words`; a plotting
  function or a notebook can say it better with ``describe(fig, shows="...")``;
- **what it finds**: the sentence a reader should take away, which only the notebook knows:
  ``describe(fig, "The error falls by a factor 16 when h halves.")``.

`install_figure_alt_texts` makes IPython attach the alt text to every figure it displays as
the PNG output's metadata (``{"image/png": {"alt": ..., "alt_finding": ...}}``);
``_ext/image_alt_text.py`` puts it on the website's ``<img>``. ``nodelib.course.book`` installs
it when imported. `nodelib.course.interactive` uses the same words for each state of an
interactive figure.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "describe",
    "figure_alt",
    "figure_summary",
    "install_figure_alt_texts",
    "tex_to_words",
]

_ATTRIBUTE = "_nodelib_alt"

_SYMBOLS = {
    # Greek letters as the characters a screen reader names ("theta", "lambda").
    **dict(
        re.findall(
            r"(\w+)=(\S)",
            "alpha=α beta=β gamma=γ delta=δ epsilon=ε varepsilon=ε zeta=ζ eta=η theta=θ "
            "vartheta=θ iota=ι kappa=κ lambda=λ mu=μ nu=ν xi=ξ pi=π rho=ρ sigma=σ tau=τ "
            "upsilon=υ phi=φ varphi=φ chi=χ psi=ψ omega=ω Gamma=Γ Delta=Δ Theta=Θ Lambda=Λ "
            "Xi=Ξ Pi=Π Sigma=Σ Phi=Φ Psi=Ψ Omega=Ω",
        )
    ),
    "to": " to ",
    "rightarrow": " to ",
    "infty": "infinity",
    "le": "≤",
    "leq": "≤",
    "ge": "≥",
    "geq": "≥",
    "ne": "≠",
    "neq": "≠",
    "approx": "≈",
    "sim": "~",
    "pm": "±",
    "cdot": "·",
    "times": "×",
    "partial": "∂",
    "nabla": "∇",
    "ell": "ℓ",
    "top": "transposed",
    "log": "log",
    "exp": "exp",
    "det": "det",
    "max": "max",
    "min": "min",
    "sum": "sum",
    "int": "integral",
    "mid": "|",
    "vert": "|",
    "lVert": "‖",
    "rVert": "‖",
    "Vert": "‖",
    "lvert": "|",
    "rvert": "|",
    "|": "‖",
    ",": " ",
    ";": " ",
    "quad": " ",
    "qquad": " ",
    "left": "",
    "right": "",
    "big": "",
    "Big": "",
    "mathrm": "",
    "mathbf": "",
    "mathit": "",
    "mathcal": "",
    "operatorname": "",
    "text": "",
    "textrm": "",
    "boldsymbol": "",
    "displaystyle": "",
}
# Accents written after their letter, as they are read: "\hat u" -> "u hat".
_ACCENTS = {"hat": "hat", "tilde": "tilde", "bar": "bar", "dot": "dot", "vec": "vector"}
_SUPERSCRIPTS = str.maketrans("0123456789+-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻")
_SUBSCRIPTS = str.maketrans("0123456789+-", "₀₁₂₃₄₅₆₇₈₉₊₋")
_GROUP = r"\{([^{}]*)\}"
_ARG = rf"(?:{_GROUP}|(\\[A-Za-z]+|[A-Za-z0-9]))"
_FONTS = r"\\(?:mathrm|mathbf|mathit|mathcal|mathsf|mathtt|operatorname|textrm|text|boldsymbol)\s*"


def _script(text: str, table: dict[int, str], spoken: str) -> str:
    # Digits (and signs) as Unicode super- or subscripts; anything else as words.
    if text and all(c in "0123456789+-" for c in text):
        return text.translate(table)
    return f" {spoken} {text} " if spoken else f" {text}"


def _math_to_words(tex: str) -> str:
    text = re.sub(_FONTS, "", tex)
    text = re.sub(r"\^\s*(?:\{\s*\\top\s*\}|\\top|T\b|\{T\})", " transposed ", text)
    for _ in range(4):  # nested groups, innermost first
        text = re.sub(rf"\\frac\s*{_GROUP}\s*{_GROUP}", lambda m: f"{m[1]} over {m[2]}", text)
        text = re.sub(rf"\\sqrt\s*{_GROUP}", lambda m: f"square root of {m[1]}", text)
        for accent, word in _ACCENTS.items():
            text = re.sub(rf"\\{accent}\s*{_ARG}", lambda m, w=word: f"{m[1] or m[2]} {w}", text)
        text = re.sub(
            rf"\^\s*{_ARG}", lambda m: _script(m[1] or m[2], _SUPERSCRIPTS, "to the power"), text
        )
        text = re.sub(rf"_\s*{_ARG}", lambda m: _script(m[1] or m[2], _SUBSCRIPTS, ""), text)
        text = re.sub(_GROUP, lambda m: m[1], text)
    text = re.sub(
        r"\\([A-Za-z]+|[|,;!: ])",
        lambda m: _SYMBOLS.get(m[1], m[1] if m[1].isalpha() else " "),
        text,
    )
    text = text.replace("{", "").replace("}", "").replace("\\", " ")
    text = text.replace("^", " to the power ").replace("_", " ")
    return " ".join(text.split())


def tex_to_words(text: str) -> str:
    """A label with matplotlib math (``$...$``) as plain words and Unicode, no TeX left.

    ``"Parasitic root $-1.618$: divergence as $h \\to 0$"`` becomes
    ``"Parasitic root -1.618: divergence as h to 0"``, ``"$w^\\top \\hat u$"`` becomes
    ``"w transposed u hat"``, ``"$z_1$"`` becomes ``"z₁"``.

    Args:
        text: a string that may hold ``$...$`` math (an axis label, a title, a legend entry).

    Returns:
        The text with every math part read as words; text outside ``$...$`` is unchanged,
        except that underscores of code names (``re_z``) become spaces.
    """
    parts = re.split(r"(?<!\\)\$", text)
    out = [p if k % 2 == 0 else _math_to_words(p) for k, p in enumerate(parts)]
    joined = "".join(out).replace("\\$", "$")
    joined = re.sub(r"(?<=\w)_(?=\w)", " ", joined)  # code names: re_z -> re z
    return " ".join(joined.split())


def _figure_of(target: Any) -> Any:
    figure = getattr(target, "figure", None)
    if figure is None and hasattr(target, "get_axes"):
        return target
    while getattr(figure, "figure", None) not in (None, figure):  # a subfigure's figure
        figure = figure.figure
    if figure is None:
        raise TypeError(f"describe needs a matplotlib Figure or Axes, got {target!r}.")
    return figure


def describe(target: Any, finding: str | None = None, *, shows: str | None = None) -> None:
    """Say in words what a figure shows and finds: its alt text on the website.

    Args:
        target: the matplotlib Figure, or one of its Axes.
        finding: what a reader should see in it, as a sentence ("The error falls by a factor
            16 when h halves."). A later call adds to the first (e.g. a plotting function
            sets `shows`, the notebook the finding).
        shows: what is plotted against what, in words ("The global error against the step
            size h, log-log, for Euler, Heun and RK4"); default: read off the figure's axes
            (`figure_summary`).

    Returns nothing (a returned Figure would be shown twice by Jupyter's inline backend).

    Raises:
        TypeError: `target` is not a Figure or Axes, or a text is not a string.
    """
    figure = _figure_of(target)
    for name, value in (("finding", finding), ("shows", shows)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise TypeError(f"describe's {name} must be a non-empty sentence, got {value!r}.")
    stored = dict(getattr(figure, _ATTRIBUTE, {}))
    if shows is not None:
        stored["shows"] = " ".join(shows.split())
    if finding is not None:
        stored["finding"] = " ".join(finding.split())
    setattr(figure, _ATTRIBUTE, stored)


def _axes_summary(ax: Any) -> str:
    title = tex_to_words(ax.get_title())
    x, y = tex_to_words(ax.get_xlabel()), tex_to_words(ax.get_ylabel())
    text = f"{y} against {x}" if x and y else (y or x)
    scales = [n for n, s in (("x", ax.get_xscale()), ("y", ax.get_yscale())) if s == "log"]
    if scales:
        text += ", log scale" if len(scales) == 1 else ", log-log"
    legend = ax.get_legend()
    if legend is not None:
        entries = [tex_to_words(t.get_text()) for t in legend.get_texts() if t.get_text()]
        if entries:
            text += "; curves: " + ", ".join(entries)
    parts = [p for p in (title, text) if p]
    return ": ".join(parts)


def figure_summary(figure: Any) -> str:
    """What a figure shows, read off its axes in words (titles, axis labels, legends).

    Args:
        figure: a matplotlib Figure.

    Returns:
        E.g. ``"Global error: error against step size h, log-log; curves: Euler, RK4"``;
        panels are numbered ("Panel 1 of 2, ..."). '' for a figure with no text at all.
    """
    suptitle = getattr(figure, "_suptitle", None)
    head = tex_to_words(suptitle.get_text()) if suptitle is not None else ""
    panels = [s for s in (_axes_summary(ax) for ax in figure.get_axes()) if s]
    if len(panels) > 1:
        panels = [f"Panel {k} of {len(panels)}, {p}" for k, p in enumerate(panels, 1)]
    return ". ".join(p for p in [head, *panels] if p)


def figure_alt(figure: Any) -> tuple[str, bool]:
    """A figure's alt text (what it shows, then what it finds) and whether it has a finding.

    Args:
        figure: a matplotlib Figure, described with `describe` or not.

    Returns:
        ``(text, has_finding)``; the text is '' when the figure says nothing at all.
    """
    stored = getattr(figure, _ATTRIBUTE, {})
    shows = stored.get("shows") or figure_summary(figure)
    finding = stored.get("finding", "")
    parts = [tex_to_words(p).rstrip(".") for p in (shows, finding) if p]
    return (". ".join(parts) + "." if parts else ""), bool(finding)


def _with_alt(printer: Any) -> Any:
    def print_with_alt(figure: Any, *args: Any, **kwargs: Any) -> Any:
        data = printer(figure, *args, **kwargs)
        alt, has_finding = figure_alt(figure)
        if not alt or data is None:
            return data
        return data, {"alt": alt, "alt_finding": has_finding}

    print_with_alt.nodelib_alt = True  # type: ignore[attr-defined]
    return print_with_alt


def install_figure_alt_texts(shell: Any = None) -> bool:
    """Make IPython send each figure's alt text with its PNG (the output's metadata).

    The PNG formatter of matplotlib figures is wrapped, whichever backend registered it;
    ``_ext/image_alt_text.py`` reads the metadata into the website's ``alt``. A formatter that
    a later ``%matplotlib inline`` or ``%config InlineBackend`` registers is wrapped too.

    Args:
        shell: the IPython shell; default: the running one.

    Returns:
        Whether it is installed (False outside IPython).
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return False
    from matplotlib.figure import Figure

    formatter = shell.display_formatter.formatters["image/png"]
    if getattr(formatter, "nodelib_alt", False):
        return True
    original_for_type = formatter.for_type

    def for_type(typ: Any, func: Any = None) -> Any:
        if func is not None and typ is Figure and not getattr(func, "nodelib_alt", False):
            func = _with_alt(func)
        return original_for_type(typ, func)

    formatter.for_type = for_type
    formatter.nodelib_alt = True
    current = formatter.type_printers.get(Figure)
    if current is not None:
        formatter.for_type(Figure, current)
    return True
