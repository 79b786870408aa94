"""Automatic differentiation in miniature: forward mode (dual numbers), reverse mode (a tape).

A teaching implementation for chapter 5 on scalars (Python floats), to be read next to
Baydin, Pearlmutter, Radul & Siskind, "Automatic differentiation in machine learning: a
survey" (JMLR 2018, §3) and Griewank & Walther, *Evaluating Derivatives* (2008, ch. 3-4).
`torch.autograd` does the same on tensors; the tests check these against it.

- Forward mode: a `Dual` number ``a + b·ε`` with ``ε² = 0`` carries a value and a derivative
  together; evaluating ``f(Dual(x, 1))`` gives ``f(x) + f'(x)·ε``. One pass gives one
  directional derivative (a Jacobian-vector product), so a gradient of ``f: R^n -> R`` takes
  n passes (`forward_gradient`).
- Reverse mode: a `Tape` records every elementary operation with its local partial
  derivatives (a Wengert list); `Tape.gradient` sweeps it backwards once, accumulating the
  adjoints ``x̄ = ∂output/∂x`` (a vector-Jacobian product). One forward and one backward pass
  give the whole gradient (`reverse_gradient`).

The elementary functions `exp`, `log`, `sin`, `cos`, `tanh`, `sqrt` accept floats, `Dual`s
and `Var`s. Arithmetic mixes either kind with plain numbers, not `Dual`s with `Var`s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Real
from typing import Any

__all__ = [
    "Dual",
    "Tape",
    "Var",
    "cos",
    "derivative",
    "exp",
    "forward_gradient",
    "log",
    "reverse_gradient",
    "sin",
    "sqrt",
    "tanh",
]


def _number(x: Any, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, Real):
        raise TypeError(f"{what} must be a real number (a float), got {type(x).__name__}.")
    return float(x)


class Dual:
    """A dual number ``value + deriv·ε`` with ``ε² = 0``: a value and its derivative.

    Args:
        value: the value, a real number.
        deriv: the derivative carried along (the tangent), 0 by default; set it to 1 on the
            variable you differentiate with respect to.

    Raises:
        TypeError: value or deriv is not a real number.
    """

    __slots__ = ("deriv", "value")

    def __init__(self, value: float, deriv: float = 0.0) -> None:
        self.value = _number(value, "Dual's value")
        self.deriv = _number(deriv, "Dual's deriv")

    def __repr__(self) -> str:
        return f"Dual({self.value!r}, {self.deriv!r})"

    @staticmethod
    def _lift(other: Any) -> Dual:
        if isinstance(other, Dual):
            return other
        if isinstance(other, Var):
            raise TypeError("cannot combine a Dual with a Var: use one mode at a time.")
        return Dual(_number(other, "the other operand"), 0.0)

    def __add__(self, other: Any) -> Dual:
        o = self._lift(other)
        return Dual(self.value + o.value, self.deriv + o.deriv)

    __radd__ = __add__

    def __neg__(self) -> Dual:
        return Dual(-self.value, -self.deriv)

    def __sub__(self, other: Any) -> Dual:
        return self + (-self._lift(other))

    def __rsub__(self, other: Any) -> Dual:
        return self._lift(other) - self

    def __mul__(self, other: Any) -> Dual:  # (a + a'ε)(b + b'ε) = ab + (a'b + ab')ε
        o = self._lift(other)
        return Dual(self.value * o.value, self.deriv * o.value + self.value * o.deriv)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Dual:
        o = self._lift(other)
        q = self.value / o.value
        return Dual(q, (self.deriv - q * o.deriv) / o.value)

    def __rtruediv__(self, other: Any) -> Dual:
        return self._lift(other) / self

    def __pow__(self, k: Any) -> Dual:
        if isinstance(k, Dual):  # x^k = exp(k log x)
            return exp(k * log(self))
        k = _number(k, "the exponent")
        return Dual(self.value**k, k * self.value ** (k - 1) * self.deriv if k else 0.0)

    def __rpow__(self, a: Any) -> Dual:
        return exp(self * math.log(_number(a, "the base")))


class Tape:
    """A Wengert list: every operation on this tape's `Var`s, with its local partials.

    Node i stores its value and the pairs (parent index, ∂node_i/∂parent) of the operation
    that made it; inputs have no parents.
    """

    def __init__(self) -> None:
        self.values: list[float] = []
        self.parents: list[tuple[tuple[int, float], ...]] = []

    def __len__(self) -> int:
        return len(self.values)

    def variable(self, value: float) -> Var:
        """A new input variable on this tape."""
        return self.push(_number(value, "a variable's value"), ())

    def push(self, value: float, parents: tuple[tuple[int, float], ...]) -> Var:
        """Record one operation: its value and (parent index, local partial) pairs."""
        self.values.append(value)
        self.parents.append(parents)
        return Var(self, len(self.values) - 1)

    def gradient(self, output: Var, inputs: Sequence[Var]) -> list[float]:
        """The adjoints ∂output/∂input for every input, from one backward sweep.

        Raises:
            ValueError: output or an input is not a Var of this tape.
        """
        for v in (output, *inputs):
            if not isinstance(v, Var) or v.tape is not self:
                raise ValueError(
                    "gradient needs the output and the inputs as Vars of this tape; got "
                    f"{v!r}. Build the function from tape.variable(...) inputs."
                )
        adjoint = [0.0] * (output.index + 1)
        adjoint[output.index] = 1.0
        for i in range(output.index, -1, -1):  # reverse order: children before parents
            if adjoint[i]:
                for j, partial in self.parents[i]:
                    adjoint[j] += partial * adjoint[i]
        return [adjoint[v.index] if v.index <= output.index else 0.0 for v in inputs]


class Var:
    """A value recorded on a `Tape`; arithmetic on Vars records new nodes."""

    __slots__ = ("index", "tape")

    def __init__(self, tape: Tape, index: int) -> None:
        self.tape, self.index = tape, index

    @property
    def value(self) -> float:
        return self.tape.values[self.index]

    def __repr__(self) -> str:
        return f"Var(value={self.value!r}, index={self.index})"

    def _lift(self, other: Any) -> Var | float:
        if isinstance(other, Var):
            if other.tape is not self.tape:
                raise ValueError("cannot combine Vars of different tapes.")
            return other
        if isinstance(other, Dual):
            raise TypeError("cannot combine a Var with a Dual: use one mode at a time.")
        return _number(other, "the other operand")

    def _binary(self, other: Any, value: Callable, d_self: Callable, d_other: Callable) -> Var:
        o = self._lift(other)
        a, b = self.value, (o.value if isinstance(o, Var) else o)
        parents = [(self.index, d_self(a, b))]
        if isinstance(o, Var):
            parents.append((o.index, d_other(a, b)))
        return self.tape.push(value(a, b), tuple(parents))

    def __add__(self, other: Any) -> Var:
        return self._binary(other, lambda a, b: a + b, lambda a, b: 1.0, lambda a, b: 1.0)

    __radd__ = __add__

    def __sub__(self, other: Any) -> Var:
        return self._binary(other, lambda a, b: a - b, lambda a, b: 1.0, lambda a, b: -1.0)

    def __rsub__(self, other: Any) -> Var:
        return (-self) + other

    def __neg__(self) -> Var:
        return self.tape.push(-self.value, ((self.index, -1.0),))

    def __mul__(self, other: Any) -> Var:
        return self._binary(other, lambda a, b: a * b, lambda a, b: b, lambda a, b: a)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Var:
        return self._binary(
            other, lambda a, b: a / b, lambda a, b: 1.0 / b, lambda a, b: -a / (b * b)
        )

    def __rtruediv__(self, other: Any) -> Var:
        a = _number(other, "the numerator")
        return self.tape.push(a / self.value, ((self.index, -a / self.value**2),))

    def __pow__(self, k: Any) -> Var:
        if isinstance(k, Var):
            return exp(k * log(self))
        k = _number(k, "the exponent")
        d = k * self.value ** (k - 1) if k else 0.0
        return self.tape.push(self.value**k, ((self.index, d),))

    def __rpow__(self, a: Any) -> Var:
        return exp(self * math.log(_number(a, "the base")))


# --- elementary functions: (f, f') applied to a float, a Dual or a Var ---------------------

_ELEMENTARY: dict[str, tuple[Callable[[float], float], Callable[[float], float]]] = {
    "exp": (math.exp, math.exp),
    "log": (math.log, lambda x: 1.0 / x),
    "sin": (math.sin, math.cos),
    "cos": (math.cos, lambda x: -math.sin(x)),
    "tanh": (math.tanh, lambda x: 1.0 - math.tanh(x) ** 2),
    "sqrt": (math.sqrt, lambda x: 0.5 / math.sqrt(x)),
}


def _elementary(name: str) -> Callable[[Any], Any]:
    f, df = _ELEMENTARY[name]

    def apply(x: Any) -> Any:
        if isinstance(x, Dual):  # chain rule, forward: (f∘x)' = f'(x)·x'
            return Dual(f(x.value), df(x.value) * x.deriv)
        if isinstance(x, Var):  # record the local partial f'(x) for the backward sweep
            return x.tape.push(f(x.value), ((x.index, df(x.value)),))
        return f(_number(x, f"{name}'s argument"))

    apply.__name__ = name
    apply.__doc__ = f"{name} of a float, a Dual or a Var (with its derivative)."
    return apply


exp, log, sin, cos, tanh, sqrt = (
    _elementary(n) for n in ("exp", "log", "sin", "cos", "tanh", "sqrt")
)


# --- the two modes as functions -----------------------------------------------------------


def derivative(f: Callable[[Any], Any], x: float) -> tuple[float, float]:
    """f(x) and f'(x) by forward mode: one evaluation of f on Dual(x, 1).

    Raises:
        TypeError: f does not return a Dual (it must be built from Dual arithmetic and the
            elementary functions of this module).
    """
    out = f(Dual(x, 1.0))
    if not isinstance(out, Dual):
        raise TypeError(
            f"f returned a {type(out).__name__}, not a Dual: build f from +, -, *, /, ** "
            "and nodelib.theory.autodiff's exp, log, sin, ... so that the derivative flows through."
        )
    return out.value, out.deriv


def forward_gradient(f: Callable[..., Any], xs: Sequence[float]) -> tuple[float, list[float]]:
    """f(*xs) and its gradient by forward mode: len(xs) evaluations, one per direction e_i.

    Raises:
        ValueError: xs is empty.
    """
    if not xs:
        raise ValueError("forward_gradient needs at least one input value.")
    grads, value = [], math.nan
    for i in range(len(xs)):
        out = f(*(Dual(x, 1.0 if j == i else 0.0) for j, x in enumerate(xs)))
        value = out.value
        grads.append(out.deriv)
    return value, grads


def reverse_gradient(f: Callable[..., Any], xs: Sequence[float]) -> tuple[float, list[float], int]:
    """f(*xs) and its gradient by reverse mode: one evaluation, one backward sweep.

    Returns:
        (value, gradient, number of nodes on the tape).

    Raises:
        TypeError: f does not return a Var of the tape.
    """
    tape = Tape()
    inputs = [tape.variable(x) for x in xs]
    out = f(*inputs)
    if not isinstance(out, Var):
        raise TypeError(f"f returned a {type(out).__name__}, not a Var of the tape.")
    return out.value, tape.gradient(out, inputs), len(tape)
