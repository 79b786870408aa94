"""Per-sample step sizes: a batch of independent problems, each with its own steps.

`odeint`/`solve` with ``options={"per_sample": True}`` treat y0 `(batch, *shape)` as
`batch` separate initial value problems. Each row has its own time, step size, error
ratio, accept/reject decision and statistics, and (when `t` is `(batch, T)`) its own
output times; a row that reaches its end time leaves the batch, so `func` is only ever
called on the rows still integrating. This is chapter 2's adaptive algorithm with every
scalar of the loop replaced by a vector over the rows (torchode's idea; Lienen &
Günnemann, "torchode: A Parallel ODE Solver for PyTorch", 2022).

Contract: `func(t, y)` gets `t` of shape `(n,)` (each row's own time) and `y` of shape
`(n, *shape)` for the n rows still integrating, and must treat rows independently.

When it wins: with one shared step (the default), the row that needs the smallest steps
sets them for all, and the error norm is an average over the batch, so a row's accuracy
depends on its batch. Per-sample stepping bounds every row's own error and spends on
each row only the steps it needs; it costs a few more small tensor operations per step,
so on a batch of alike rows the shared step is as accurate and slightly cheaper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import Tensor

from nodelib._problem import _check_tolerance, _check_y0
from nodelib.errors import MaxStepsError, StepSizeError
from nodelib.interpolate import hermite, rk_dense
from nodelib.rk import RKCoefficients, rk_step
from nodelib.step_control import IController, make_controller
from nodelib.tableau import TABLEAUS

__all__ = ["PER_SAMPLE_METHODS", "PerSampleSolution", "integrate_per_sample"]


def _rows(x: Tensor) -> Tensor:
    """The per-row RMS of `(n, *shape)`: `(n,)`."""
    return x.reshape(x.shape[0], -1).pow(2).mean(dim=1).sqrt()


def _column(v: Tensor, like: Tensor) -> Tensor:
    """Per-row values `(n,)` as `(n, 1, ..., 1)`, to broadcast against `like` `(n, *shape)`."""
    return v.reshape(-1, *(1,) * (like.dim() - 1))


def _initial_step(f, t, y, f0, order, rtol, atol, col) -> Tensor:
    """Hairer's starting step (HNW I, §II.4), for every row at once: `(n,)`."""
    scale = y.abs() * rtol + atol
    d0, d1 = _rows(y / scale), _rows(f0 / scale)
    h0 = torch.where((d0 < 1e-5) | (d1 < 1e-5), torch.full_like(d0, 1e-6), 0.01 * d0 / d1)
    f1 = f(t + h0, y + col(h0) * f0)
    d2 = _rows((f1 - f0) / scale) / h0
    big = torch.maximum(d1, d2)
    h1 = torch.where(
        big <= 1e-15, torch.clamp(h0 * 1e-3, min=1e-6), (0.01 / big) ** (1.0 / (order + 1))
    )
    return torch.minimum(100 * h0, h1)


def _propose(c: IController, h: Tensor, ratio: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The I controller of `nodelib.step_control`, row by row: (accept, next h)."""
    finite = torch.isfinite(ratio)
    accept = finite & (ratio <= 1.0)
    factor = c.safety * ratio.clamp_min(1e-300) ** (-1.0 / k)
    factor = torch.where(ratio == 0, torch.full_like(factor, c.ifactor), factor)
    upper = torch.where(accept, torch.full_like(factor, c.ifactor), torch.ones_like(factor))
    factor = torch.minimum(upper, factor.clamp_min(c.dfactor))
    factor = torch.where(finite, factor, torch.full_like(factor, c.dfactor))
    return accept, h * factor


class PerSampleSolve:
    """The state of a per-sample solve; `run` integrates, the attributes hold the results.

    Attributes (after `run`):
        ys: `(T, batch, *shape)`, row b at its own output times.
        nfe, n_accepted, n_rejected: `(batch,)` integer tensors, each row's own counts.
        calls: the number of calls of func (each on the rows still integrating).
        steps: when recording, per loop iteration (rows, t, h, accepted, interpolant).
    """

    def __init__(self, func, y0, t, rtol, atol, method: str, options: dict, record: bool):
        (y0,) = _check_per_sample(y0, method)
        self.tableau, self.record = TABLEAUS[method], record
        self.coeffs = RKCoefficients.from_tableau(self.tableau)
        self.rtol, self.atol = _check_tolerance("rtol", rtol), _check_tolerance("atol", atol)
        self.controller = make_controller(options.get("controller"), options)
        if not isinstance(self.controller, IController):
            raise ValueError("per-sample stepping uses the I controller: leave 'controller' out.")
        self.max_steps = options.get("max_num_steps", 100_000)
        self.func, self.y0, self.tgrid = func, y0, _check_times(t, y0)
        self.direction = 1.0 if bool((self.tgrid[:, -1] >= self.tgrid[:, 0]).all()) else -1.0
        self.tgrid = self.tgrid * self.direction  # internal times, increasing per row
        b = y0.shape[0]
        self.nfe = torch.zeros(b, dtype=torch.long, device=y0.device)
        self.n_accepted, self.n_rejected = torch.zeros_like(self.nfe), torch.zeros_like(self.nfe)
        self.calls, self.steps = 0, []

    def f(self, t: Tensor, y: Tensor) -> Tensor:
        """func on the rows still integrating, at their internal times t `(n,)`."""
        self.calls += 1
        out = self.func(t.reshape(-1) * self.direction, y)
        return out if self.direction > 0 else -out

    def run(self, first_step: float | None = None, max_step: float = math.inf) -> PerSampleSolve:
        """Integrate every row to its last output time; fill `ys` and the statistics.

        The host reads the device once per iteration (on a GPU each read waits for the
        queued work): one small tensor says whether a row underflowed, how many outputs
        the busiest row passed and how many rows finished.
        """
        rows, y, t, t_end, f0, h, n_live = self._start(first_step, max_step)
        col = partial(_column, like=y)
        next_out = torch.ones_like(rows)
        k_order = self.tableau.embedded_order + 1
        stages, iterations = len(self.coeffs.c) - 1, 0  # FSAL: the first stage is f0
        while n_live:
            iterations += 1
            lands, h_try, bad = self._clip(t, t_end, h, iterations)
            y1, err, k = rk_step(self.f, col(t), y, col(h_try), self.coeffs, f0)
            self.nfe[rows] += stages
            with torch.no_grad():
                scale = torch.maximum(y.abs(), y1.abs()) * self.rtol + self.atol
                accept, h = _propose(self.controller, h_try, _rows(err / scale), k_order)
            self.n_accepted.index_add_(0, rows, accept.long())
            self.n_rejected.index_add_(0, rows, (~accept).long())
            t1 = torch.where(lands, t_end, t + h_try)
            interp = self._interpolant(y, y1, k, f0, col(h_try), col)
            if self.record:
                self.steps.append((rows, t, h_try, accept, interp))
            done = accept & lands
            count, snap = self._outputs_in(rows, t1, accept, next_out)
            underflow, n_emit, n_done = torch.stack(
                [bad.any().long(), count.max(), done.sum()]
            ).tolist()  # the iteration's one read of the device
            if underflow:
                self._underflow(rows, bad)
            for j in range(n_emit):
                self._emit(rows, t, h_try, t1, y1, next_out + j, j < count, snap, interp)
            next_out += count
            y, t = torch.where(col(accept), y1, y), torch.where(accept, t1, t)
            f0, h = torch.where(col(accept), k[-1], f0), h.clamp(max=max_step)
            if n_done:  # rows at their end leave the batch
                n_live -= n_done
                rows, y, t, t_end, h, f0, next_out = _compact(
                    ~done, n_live, rows, y, t, t_end, h, f0, next_out
                )
        self.ys = self.ys[:-1]
        return self

    def _start(self, first_step: float | None, max_step: float):
        """The rows with something to solve, their f0 and first step; `ys` holds y0."""
        y, tg = self.y0, self.tgrid
        self.ys = y.new_zeros((tg.shape[1] + 1, *y.shape))  # the last slot takes stray writes
        self.ys[0] = y
        live = tg[:, -1] > tg[:, 0]
        n_live = int(live.sum())
        rows = torch.arange(y.shape[0], device=y.device)
        rows, y, t, t_end = _compact(live, n_live, rows, y, tg[:, 0], tg[:, -1])
        f0 = self.f(t, y)
        self.nfe[rows] += 1
        if first_step is None:
            with torch.no_grad():  # step sizes are not differentiated (as in nodelib.integrate)
                order, col = self.tableau.embedded_order, partial(_column, like=y)
                h = _initial_step(self.f, t, y, f0, order, self.rtol, self.atol, col)
            self.nfe[rows] += 1
        else:
            h = torch.full_like(t, float(first_step))
        return rows, y, t, t_end, f0, h.clamp(max=max_step), n_live

    def _clip(self, t: Tensor, t_end: Tensor, h: Tensor, iterations: int):
        """Land exactly on each row's end: (lands, h_try, underflowing rows)."""
        rem = t_end - t
        lands = h >= rem
        h_try = torch.where(lands, rem, h)
        tiny = 4 * torch.finfo(t.dtype).eps * t.abs().clamp_min(1.0)
        bad = ~lands & ~(h_try >= tiny)  # `~(>=)` also catches NaN
        if iterations > self.max_steps:  # every row still here tried a step each iteration
            raise MaxStepsError(
                f"a row took max_num_steps={self.max_steps} steps: pass a larger "
                "options={'max_num_steps': ...} or looser tolerances."
            )
        return lands, h_try, bad

    @staticmethod
    def _underflow(rows: Tensor, bad: Tensor):
        row = int(rows[bad.nonzero()[0, 0]])
        raise StepSizeError(
            f"the step size of row {row} fell below the resolution of its time: that "
            "problem may blow up there, or its tolerances are tighter than the dtype allows."
        )

    def _interpolant(self, y, y1, k, f0, h, col):
        """θ `(n,)` -> the rows at t + θh: the continuous extension, or cubic Hermite."""
        b_dense = self.tableau.b_dense
        if b_dense is not None:
            return lambda theta: rk_dense(y, k, h, b_dense, col(theta))
        return lambda theta: hermite(y, y1, f0, k[-1], h, col(theta))

    def _outputs_in(self, rows, t1, accept, next_out) -> tuple[Tensor, Tensor]:
        """How many of each row's output times the step passed (t1 + snap included): `(n,)`."""
        snap = 4 * torch.finfo(self.tgrid.dtype).eps * t1.abs().clamp_min(1.0)
        passed = torch.searchsorted(self.tgrid[rows], (t1 + snap).unsqueeze(1), right=True)
        return torch.where(accept, passed.squeeze(1) - next_out, 0).clamp_min(0), snap

    def _emit(self, rows, t, h, t1, y1, out, valid, snap, interp) -> None:
        """Write output number `out` `(n,)` of the valid rows into `ys`, the others aside."""
        tn = self.tgrid[rows, out.clamp(max=self.tgrid.shape[1] - 1)]
        value = interp(((tn - t) / h).clamp(0.0, 1.0))
        value = torch.where(_column((tn - t1).abs() <= snap, y1), y1, value)
        self.ys.index_put_((torch.where(valid, out, self.tgrid.shape[1]), rows), value)


def _compact(keep: Tensor, n_keep: int, *xs: Tensor) -> list[Tensor]:
    """The rows of each x where `keep` holds, in order, given their number (no host read)."""
    order = torch.argsort((~keep).to(torch.uint8), stable=True)[:n_keep]
    return [x.index_select(0, order) for x in xs]


@dataclass
class PerSampleSolution:
    """What `solve(..., options={"per_sample": True})` returns.

    Attributes:
        ts: the output times as given, `(T,)` or `(batch, T)`.
        ys: `(T, batch, *shape)`; ys[j, b] is row b at its j-th output time.
        stats: "nfe" (calls of func, each on the rows still integrating), "nfe_rows" (rows
            evaluated in all: the work), and per row "nfe_per_sample", "n_accepted_per_sample",
            "n_rejected_per_sample" (lists of `batch` ints).
        method: the method's name.
    """

    ts: Tensor
    ys: Tensor
    stats: dict
    method: str
    _solve: PerSampleSolve = field(repr=False)

    def evaluate(self, t: float | Tensor) -> Tensor:
        """Every row at time t (a number, or `(batch,)`: one time per row): `(batch, *shape)`.

        Raises:
            ValueError: a time outside a row's solved interval.
        """
        ps, y0 = self._solve, self._solve.y0
        query = torch.as_tensor(t, dtype=ps.tgrid.dtype, device=y0.device)
        query = query.expand(y0.shape[0]).clone() * ps.direction
        out, filled = y0.detach().clone(), query == ps.tgrid[:, 0]
        for rows, t0, h, accepted, interp in ps.steps:
            q = query[rows]
            hit = accepted & ~filled[rows] & (q >= t0) & (q <= t0 + h)
            if bool(hit.any()):
                with torch.no_grad():
                    value = interp(((q - t0) / h).clamp(0.0, 1.0))
                out[rows[hit]] = value[hit]
                filled[rows[hit]] = True
        if not bool(filled.all()):
            row = int((~filled).nonzero()[0, 0])
            raise ValueError(f"t is outside the solved interval of row {row}.")
        return out


def solution(solve: PerSampleSolve, t: Tensor, method: str) -> PerSampleSolution:
    """The `PerSampleSolution` of a finished solve."""
    stats = {
        "nfe": solve.calls,
        "nfe_rows": int(solve.nfe.sum()),
        "nfe_per_sample": solve.nfe.tolist(),
        "n_accepted_per_sample": solve.n_accepted.tolist(),
        "n_rejected_per_sample": solve.n_rejected.tolist(),
    }
    return PerSampleSolution(torch.as_tensor(t), solve.ys, stats, method, solve)


PER_SAMPLE_METHODS = ("dopri5", "tsit5", "bosh3")


def _check_per_sample(y0: object, method: str) -> tuple[Tensor]:
    if method not in PER_SAMPLE_METHODS:
        raise ValueError(
            f"per-sample stepping supports the adaptive FSAL pairs {PER_SAMPLE_METHODS}; "
            f"got method={method!r}."
        )
    if isinstance(y0, tuple | list) or not isinstance(y0, Tensor) or y0.dim() < 1:
        raise ValueError(
            "per-sample stepping needs y0 as one tensor (batch, *shape), the problems along "
            "dimension 0; for a tuple state, concatenate it into one tensor."
        )
    return _check_y0(y0)


def _check_times(t: object, y0: Tensor) -> Tensor:
    """The output times as `(batch, T)` (a shared `(T,)` is repeated for every row)."""
    t = torch.as_tensor(t, device=y0.device)
    if not t.is_floating_point():
        t = t.to(y0.dtype)
    if t.requires_grad and torch.is_grad_enabled():
        raise ValueError(
            "per-sample solves do not differentiate with respect to t: pass t.detach()."
        )
    if t.dim() == 1:
        t = t.expand(y0.shape[0], -1)
    if t.dim() != 2 or t.shape[0] != y0.shape[0] or t.shape[1] < 1:
        raise ValueError(
            f"t must be (T,) or (batch, T) with batch = y0.shape[0] = {y0.shape[0]}; "
            f"got shape {tuple(t.shape)}."
        )
    if not bool(torch.isfinite(t).all()):
        raise ValueError("t contains NaN or Inf; the output times must be finite.")
    if t.shape[1] > 1:
        d = t[:, 1:] - t[:, :-1]
        if not (bool((d > 0).all()) or bool((d < 0).all())):
            raise ValueError(
                "every row of t must be strictly increasing, or every row strictly "
                "decreasing (one direction for the whole batch)."
            )
    return t


_OPTIONS = frozenset(
    {"per_sample", "first_step", "max_step", "max_num_steps", "controller", "safety",
     "ifactor", "dfactor"}
)  # fmt: skip


def integrate_per_sample(func, y0, t, rtol, atol, method, options, record) -> PerSampleSolve:
    """Run a per-sample solve (see the module docstring) and return its state.

    Raises:
        ValueError: an option per-sample stepping does not read, a method it does not
            support, or a y0 that is not one batched tensor.
    """
    unused = sorted(set(options) - _OPTIONS)
    if unused:
        raise ValueError(
            f"option(s) {unused} are not read by per-sample stepping, which reads only: "
            f"{', '.join(sorted(_OPTIONS))}."
        )
    solve = PerSampleSolve(func, y0, t, rtol, atol, method, options, record)
    return solve.run(options.get("first_step"), float(options.get("max_step", math.inf)))
