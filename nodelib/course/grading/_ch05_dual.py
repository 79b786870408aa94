"""Chapter 5's tests of the reader's dual numbers (question C5.2).

Part of `nodelib.course.grading.ch05`, kept apart for length. Every operation of the reader's `Dual`
class is compared, one at a time, with `nodelib.theory.autodiff.Dual` (values and derivatives), so
that a wrong rule is named ("the product rule", "the quotient rule", ...); then whole programs
are differentiated and compared with derivatives worked out by hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from nodelib.course.grading.core import CheckFailed
from nodelib.theory.autodiff import Dual as RefDual

__all__ = ["dual_arithmetic", "dual_programs", "dual_structure"]

# (expression, function of x and y, what to look at when it is wrong)
OPERATIONS: tuple[tuple[str, Callable[[Any, Any], Any], str], ...] = (
    ("x + y", lambda x, y: x + y, "the derivative of a sum is the sum of the derivatives."),
    ("x - y", lambda x, y: x - y, "the derivative of x - y is x' - y'."),
    ("x * y", lambda x, y: x * y, "the product rule: (xy)' = x'y + xy'."),
    ("x / y", lambda x, y: x / y, "the quotient rule: (x/y)' = (x'y - xy') / y²."),
    ("-x", lambda x, y: -x, "negation flips the sign of the value and of the derivative."),
    ("x + 2.5", lambda x, y: x + 2.5, "a number is a dual number with derivative 0."),
    ("2.5 + x", lambda x, y: 2.5 + x, "define __radd__ for number + Dual."),
    ("x - 2.5", lambda x, y: x - 2.5, "a number is a dual number with derivative 0."),
    ("2.5 - x", lambda x, y: 2.5 - x, "define __rsub__: 2.5 - x has derivative -x'."),
    ("3.0 * x", lambda x, y: 3.0 * x, "define __rmul__ for number * Dual."),
    ("x * 3.0", lambda x, y: x * 3.0, "a number times a dual number scales both parts."),
    ("x / 4.0", lambda x, y: x / 4.0, "dividing by a number divides both parts."),
    ("1.0 / x", lambda x, y: 1.0 / x, "define __rtruediv__: (1/x)' = -x'/x²."),
    ("x ** 3", lambda x, y: x**3, "the power rule: (x^k)' = k x^(k-1) x'."),
    ("x ** 0.5", lambda x, y: x**0.5, "the power rule holds for any real exponent k."),
    ("x ** 1", lambda x, y: x**1, "x^1 is x: its derivative is x'."),
)

PAIRS = ((1.3, 0.7, 2.0, -0.5), (0.4, -1.0, -1.5, 2.5), (2.2, 1.0, 0.9, 0.0))


def _parts(out: Any, what: str) -> tuple[float, float]:
    for name in ("value", "deriv"):
        if not hasattr(out, name):
            raise CheckFailed(
                f"{what} has no attribute .{name}: a Dual stores its value in .value and its "
                f"derivative in .deriv (it is a {type(out).__name__})."
            )
    try:
        return float(out.value), float(out.deriv)
    except (TypeError, ValueError):
        raise CheckFailed(f"{what}: .value and .deriv should be numbers.") from None


def dual_structure(Dual: Any, device: Any) -> str:
    x = Dual(1.5, 2.0)
    if _parts(x, "Dual(1.5, 2.0)") != (1.5, 2.0):
        raise CheckFailed(
            f"Dual(1.5, 2.0) has value {x.value} and deriv {x.deriv}: store the first argument "
            "in .value and the second in .deriv."
        )
    y = Dual(3.0, 0.5)
    for text, op, _ in OPERATIONS:
        out = op(x, y)
        if out is x or out is y or _parts(x, "x") != (1.5, 2.0) or _parts(y, "y") != (3.0, 0.5):
            raise CheckFailed(
                f"{text} changed or returned its operand x = Dual(1.5, 2.0) or y = Dual(3.0, "
                "0.5) in place: return a new Dual from every method."
            )
    return "value and deriv attributes; operations return new Duals"


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def dual_arithmetic(Dual: Any, device: Any) -> str:
    for text, op, hint in OPERATIONS:
        for a, da, b, db in PAIRS:
            try:
                out = op(Dual(a, da), Dual(b, db))
            except TypeError as error:
                raise CheckFailed(
                    f"{text} raised TypeError ({error}) for x = Dual({a}, {da}), y = Dual({b}, "
                    f"{db}): {hint}"
                ) from None
            got = _parts(out, f"the result of {text}")
            ref = op(RefDual(a, da), RefDual(b, db))
            if not _close(got[0], ref.value):
                raise CheckFailed(
                    f"{text} for x = Dual({a}, {da}), y = Dual({b}, {db}) has value {got[0]:.6g}, "
                    f"expected {ref.value:.6g}: the value part is ordinary arithmetic ({hint})"
                )
            if not _close(got[1], ref.deriv):
                raise CheckFailed(
                    f"{text} for x = Dual({a}, {da}), y = Dual({b}, {db}) has derivative "
                    f"{got[1]:.6g}, expected {ref.deriv:.6g}: {hint}"
                )
    return f"{len(OPERATIONS)} operations, each on {len(PAIRS)} pairs of dual numbers"


def _programs() -> list[tuple[str, Callable[[Any], Any], Callable[[float], float], float]]:
    """(text, program, its derivative by hand, point)."""
    return [
        ("x³ - 2x + 1/x", lambda x: x**3 - 2 * x + 1 / x, lambda x: 3 * x * x - 2 - 1 / x**2, 2.0),
        (
            "(x² + 1) / (x - 3)",
            lambda x: (x * x + 1) / (x - 3),
            lambda x: (2 * x * (x - 3) - (x * x + 1)) / (x - 3) ** 2,
            0.5,
        ),
        ("S - S² (T(S, C(S)), C = S²)", lambda s: s - s**2, lambda s: 1 - 2 * s, 0.3),
        (
            "Horner's rule for 1 + 2x + 3x² + 4x³",
            lambda x: ((4 * x + 3) * x + 2) * x + 1,
            lambda x: 2 + 6 * x + 12 * x * x,
            -0.7,
        ),
    ]


def dual_programs(Dual: Any, device: Any) -> str:
    for text, program, derivative, x in _programs():
        got = _parts(program(Dual(x, 1.0)), f"the result of {text}")
        if not _close(got[1], derivative(x)):
            raise CheckFailed(
                f"evaluating {text} on Dual({x}, 1.0) gives derivative {got[1]:.10g}, but the "
                f"derivative is {derivative(x):.10g}. Every operation must apply its rule."
            )
    return "derivatives of four programs equal the ones worked out by hand"
