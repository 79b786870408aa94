"""The exceptions nodelib raises for problems a user can fix.

Every message says what went wrong *and* what to do about it. Bad arguments
(wrong type, shape or value) raise the built-in ``TypeError``/``ValueError``;
the classes below are for failures that happen while solving.
"""

from __future__ import annotations

__all__ = [
    "ClaimError",
    "ConvergenceError",
    "MaxStepsError",
    "NodelibError",
    "NonFiniteError",
    "StepSizeError",
]


class NodelibError(RuntimeError):
    """Base class of the errors nodelib raises while it solves a problem."""


class StepSizeError(NodelibError):
    """The adaptive step size fell below ``min_step`` or below floating-point resolution.

    Typical causes: a singularity (the solution blows up), a discontinuous ``func``,
    or a stiff problem given to an explicit method.
    """


class MaxStepsError(NodelibError):
    """The solver took ``max_num_steps`` steps without reaching the final time."""


class ConvergenceError(NodelibError):
    """Newton's iteration in an implicit method did not converge."""


class NonFiniteError(NodelibError):
    """The solution or the vector field became NaN or Inf during the solve.

    With a fixed step this usually means the step is too large for the method's
    region of absolute stability; with an adaptive method, that `func` returns
    NaN or Inf near the reported time.
    """


class ClaimError(NodelibError):
    """A sentence of a chapter's text is false for the numbers this run computed.

    Raised by `nodelib.course.book.claim` when claims are checked strictly (the book build and
    the tests set ``NODELIB_CLAIMS=strict``). Either the text must change, or the
    experiment does not show what the text says on this seed or machine.
    """
