"""Why torchdiffeq's dopri5 takes fewer steps than nodelib's at the same tolerances.

Development only (needs torchdiffeq, from requirements-dev.txt; not run by CI). Issue 15
reported 26 function evaluations for torchdiffeq against 32 for nodelib on an MLP field. This
script shows the cause and that it is not waste:

1. torchdiffeq's dopri5 error weights (b - b_hat) are exactly 2/3 of the Dormand–Prince
   weights nodelib uses (HNW I, Table II.5.2; SciPy's RK45 uses the same), so every error
   ratio is 2/3 of nodelib's and torchdiffeq behaves like nodelib at 1.5 times the tolerance;
2. on the issue's problem the evaluation counts and the errors against a float64 reference
   (nodelib at rtol, nodelib at 1.5 rtol, torchdiffeq at rtol) show exactly that.

    python benchmarks/dopri5_error_weights.py
"""

from __future__ import annotations

import torch
from torch import nn

from nodelib import odeint
from nodelib.tableau import TABLEAUS

RTOL, ATOL = 1e-5, 1e-6


class CountingMLP(nn.Module):
    """f(t, y) = W2 tanh(W1 y + b1) + b2, counting its evaluations."""

    def __init__(self, dim: int, hidden: int, scale: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, dim))
        with torch.no_grad():
            for p in self.net.parameters():
                p.mul_(scale)  # a stiffer field than the default initialisation
        self.calls = 0

    def forward(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.net(y)


def weight_ratios() -> list[float]:
    """torchdiffeq's error weights divided by nodelib's, where nodelib's are not zero."""
    from torchdiffeq._impl import dopri5

    ours = TABLEAUS["dopri5"].b_error
    theirs = dopri5._DORMAND_PRINCE_SHAMPINE_TABLEAU.c_error.tolist()
    return [b / a for a, b in zip(ours, theirs, strict=True) if a != 0]


def main() -> None:
    import torchdiffeq

    torch.set_num_threads(1)
    print("torchdiffeq / nodelib dopri5 error weights:",
          ", ".join(f"{r:.6f}" for r in weight_ratios()))  # fmt: skip
    torch.manual_seed(0)
    f = CountingMLP(64, 512, scale=2.0)
    y0 = torch.randn(512, 64)
    t = torch.linspace(0.0, 1.0, 5)
    with torch.no_grad():
        reference = odeint(f.double(), y0.double(), t.double(), rtol=1e-12, atol=1e-12,
                           method="dopri8").float()  # fmt: skip
        f.float()
        runs = {
            "nodelib, rtol/atol": lambda: odeint(f, y0, t, rtol=RTOL, atol=ATOL),
            "nodelib, 1.5 x rtol/atol": lambda: odeint(f, y0, t, rtol=1.5 * RTOL, atol=1.5 * ATOL),
            "torchdiffeq, rtol/atol": lambda: torchdiffeq.odeint(
                f, y0, t, rtol=RTOL, atol=ATOL, method="dopri5"
            ),
        }
        print(f"MLP 64-512-64 (weights x2), batch 512, float32, rtol={RTOL:g}, atol={ATOL:g}")
        for name, run in runs.items():
            f.calls = 0
            error = float((run() - reference).abs().max())
            print(f"  {name:26s} evaluations {f.calls:3d}   largest error {error:.2e}")


if __name__ == "__main__":
    main()
