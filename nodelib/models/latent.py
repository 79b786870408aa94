"""Latent ODEs for irregularly sampled time series, with an RNN baseline (chapter 6).

A batch of N series shares one time grid t `(T,)`; y `(N, T, D)` holds the values and the
boolean mask `(N, T)` marks which grid times each series was observed at (values elsewhere
are ignored, even NaN), the layout of `nodelib.data.make_spirals`.

- `LatentODE` (Chen et al., "Neural Ordinary Differential Equations", NeurIPS 2018, §5;
  Rubanova, Chen & Duvenaud, "Latent ODEs for Irregularly-Sampled Time Series", NeurIPS
  2019): a variational auto-encoder. A recognition network read backwards in time gives
  q(z0 | x) = N(mu, diag(sigma^2)); z(t) solves z' = f(z) from z0; each observation is
  Gaussian around decoder(z(t_i)). Trained by the ELBO; interpolates and extrapolates.
- `GRUEncoder`: a GRU over the observations, latest first, with the time gaps as input.
- `ODERNNEncoder` (Rubanova et al. 2019, Algorithm 1, run backwards): between grid times
  the hidden state follows an ODE, at each observation a GRU update.
- `RNNBaseline`: an autoregressive GRU with the time gaps as input (Chen et al. 2018, §5).
- `TimeSeriesLoss`: a model and its grid as one module whose forward returns the loss,
  for `nodelib.course.train.fit`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from nodelib.models.blocks import ODEBlock, ODEFunc

__all__ = ["GRUEncoder", "LatentODE", "ODERNNEncoder", "RNNBaseline", "TimeSeriesLoss"]


def _check_series(t: Tensor, y: Tensor, mask: Tensor) -> Tensor:
    """Validate the layout; return the mask as bool `(N, T, 1)`."""
    if t.dim() != 1 or y.dim() != 3 or mask.shape != y.shape[:2] or y.shape[1] != len(t):
        raise ValueError(
            f"expected t (T,), y (N, T, D) and mask (N, T); got t {tuple(t.shape)}, "
            f"y {tuple(y.shape)}, mask {tuple(mask.shape)}."
        )
    if len(t) > 1 and not bool((t[1:] > t[:-1]).all()):
        raise ValueError("t must be strictly increasing.")
    return mask.bool().unsqueeze(-1)


def _mlp(n_in: int, hidden: int, n_out: int, act: type[nn.Module]) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, hidden), act(), nn.Linear(hidden, hidden), act(), nn.Linear(hidden, n_out)
    )


class _Autonomous(nn.Module):
    """f(t, z) = mlp(z): an autonomous vector field `(N, d)` -> `(N, d)`."""

    def __init__(self, dim: int, hidden: int, act: type[nn.Module]) -> None:
        super().__init__()
        self.mlp = _mlp(dim, hidden, dim, act)

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        return self.mlp(z)


class GRUEncoder(nn.Module):
    """q(z0 | x) from a GRU run from the last observation to the first (Chen et al. 2018, §5).

    Each observed y_i enters with the gap to the observation read before it (the next one
    in time); unobserved grid times leave the hidden state unchanged. The output layer also
    sees the gap from t[0] to the series' first observation, so z0 belongs to time t[0].

    Args:
        obs_dim, hidden, latent_dim: observation, GRU and latent sizes.
    """

    def __init__(self, obs_dim: int, hidden: int, latent_dim: int) -> None:
        super().__init__()
        self.cell = nn.GRUCell(obs_dim + 1, hidden)
        self.out = nn.Linear(hidden + 1, 2 * latent_dim)

    def forward(self, t: Tensor, y: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """(mu, logvar), each `(N, latent_dim)`, from t `(T,)`, y `(N, T, D)`, mask `(N, T)`."""
        m = _check_series(t, y, mask)[..., 0]  # (N, T)
        n, T = m.shape
        # Each series' observed grid indices in time order, then its unobserved ones: the GRU
        # runs over as many steps as the most observed series has points, not over all T.
        grid = torch.arange(T, device=t.device)
        order = torch.argsort(torch.where(m, grid, grid + T), dim=1)  # (N, T)
        counts = m.sum(1, keepdim=True)  # (N, 1)
        h = y.new_zeros(n, self.cell.hidden_size)  # (N, hidden)
        t_next = t[-1].expand(n, 1)  # (N, 1): time of the observation read last
        for k in reversed(range(int(counts.max()))):
            valid = counts > k  # (N, 1)
            idx = order[:, k]  # (N,)
            t_k = t[idx].unsqueeze(1)  # (N, 1)
            x = torch.cat([torch.where(valid, y[torch.arange(n), idx], 0.0), t_next - t_k], 1)
            h = torch.where(valid, self.cell(x, h), h)
            t_next = torch.where(valid, t_k, t_next)
        return self.out(torch.cat([h, t_next - t[0]], dim=1)).chunk(2, dim=1)  # type: ignore[return-value]


class ODERNNEncoder(nn.Module):
    """ODE-RNN recognition network (Rubanova et al. 2019, Algorithm 1), read backwards in time.

    From t[T-1] down to t[0]: the hidden state h solves h' = f_h(h) across each grid
    interval (an `ODEBlock` integrated backwards), then where y_i is observed a GRU cell
    updates it. (mu, logvar) of q(z0 | x) are a linear function of h(t[0]).

    Args:
        obs_dim, hidden, latent_dim: observation, hidden-state and latent sizes.
        ode_hidden: width of the MLP f_h (default: `hidden`).
        method, options: solver for the hidden ODE; default one Euler step per grid interval.
    """

    def __init__(
        self,
        obs_dim: int,
        hidden: int,
        latent_dim: int,
        *,
        ode_hidden: int | None = None,
        method: str = "euler",
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        func = ODEFunc(_Autonomous(hidden, ode_hidden or hidden, nn.Tanh))
        self.ode = ODEBlock(func, method=method, options=options, adjoint=False)
        self.cell = nn.GRUCell(obs_dim, hidden)
        self.out = nn.Linear(hidden, 2 * latent_dim)

    def forward(self, t: Tensor, y: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """(mu, logvar), each `(N, latent_dim)`, from t `(T,)`, y `(N, T, D)`, mask `(N, T)`."""
        m = _check_series(t, y, mask)
        h = y.new_zeros(y.shape[0], self.cell.hidden_size)  # (N, hidden)
        for i in reversed(range(len(t))):
            if i < len(t) - 1:
                h = self.ode.trajectory(h, t[i : i + 2].flip(0))[-1]  # h(t_{i+1}) -> h(t_i)
            h = torch.where(m[:, i], self.cell(torch.where(m[:, i], y[:, i], 0.0), h), h)
        return self.out(h).chunk(2, dim=1)  # type: ignore[return-value]


class LatentODE(nn.Module):
    """The latent ODE model (Chen et al. 2018, §5 and Fig. 6; Rubanova et al. 2019, §3).

    Args:
        obs_dim, latent_dim: observation and latent dimensions.
        rec_hidden: hidden size of the recognition network (the paper: 25).
        gen_hidden: width of the latent vector field and of the decoder MLP (the paper: 20).
        encoder: "gru" (`GRUEncoder`) or "odernn" (`ODERNNEncoder`).
        method, rtol, atol, adjoint: the solver of the latent ODE (`ODEBlock`).

    Raises:
        ValueError: an unknown encoder.
    """

    def __init__(
        self,
        obs_dim: int = 2,
        latent_dim: int = 4,
        rec_hidden: int = 25,
        gen_hidden: int = 20,
        *,
        encoder: str = "gru",
        method: str = "dopri5",
        rtol: float = 1e-3,
        atol: float = 1e-4,
        adjoint: bool = False,
    ) -> None:
        super().__init__()
        encoders = {"gru": GRUEncoder, "odernn": ODERNNEncoder}
        if encoder not in encoders:
            raise ValueError(f"encoder must be 'gru' or 'odernn', got {encoder!r}.")
        self.encoder = encoders[encoder](obs_dim, rec_hidden, latent_dim)
        func = ODEFunc(_Autonomous(latent_dim, gen_hidden, nn.ELU))
        self.dynamics = ODEBlock(func, method=method, rtol=rtol, atol=atol, adjoint=adjoint)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, gen_hidden), nn.ReLU(), nn.Linear(gen_hidden, obs_dim)
        )

    def encode(self, t: Tensor, y: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of q(z0 | x), each `(N, latent_dim)`; z0 is z at t[0]."""
        return self.encoder(t, y, mask)

    def decode(self, z0: Tensor, t: Tensor, *, t0: Tensor | float | None = None) -> Tensor:
        """Observation means at the times t: z0 `(N, latent)` at t0, t `(Q,)` -> `(N, Q, D)`.

        Raises:
            ValueError: t is not increasing, or starts before t0 (default t0 = t[0]).
        """
        t0 = t[0] if t0 is None else torch.as_tensor(t0, dtype=t.dtype, device=t.device)
        if t.dim() != 1 or (len(t) > 1 and not bool((t[1:] > t[:-1]).all())):
            raise ValueError("query times must be 1-D and strictly increasing.")
        if bool(t[0] < t0):
            raise ValueError(f"query times start at {float(t[0]):g}, before t0={float(t0):g}.")
        prepend = bool(t[0] > t0)
        times = torch.cat([t0.reshape(1), t]) if prepend else t
        if len(times) == 1:
            zs = z0.unsqueeze(0)  # (1, N, latent)
        else:
            zs = self.dynamics.trajectory(z0, times)[int(prepend) :]  # (Q, N, latent)
        return self.decoder(zs).transpose(0, 1)  # (N, Q, D)

    def forward(self, t: Tensor, y: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(pred `(N, T, D)`, mu, logvar) with z0 ~ q(z0 | x) reparameterised."""
        mu, logvar = self.encode(t, y, mask)
        z0 = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # (N, latent)
        return self.decode(z0, t), mu, logvar

    def elbo(
        self, t: Tensor, y: Tensor, mask: Tensor, *, noise_std: float, kl_weight: float = 1.0
    ) -> tuple[Tensor, dict[str, float]]:
        """Negative ELBO per series, one sample of z0 (Kingma & Welling 2014; Chen et al. §5).

        ELBO = E_q[sum over observed (i, d) of log N(y_id | x_id, noise_std^2)]
               - kl_weight * KL(q(z0 | x) || N(0, I)), the KL in closed form.

        Args:
            t, y, mask: `(T,)`, `(N, T, D)`, `(N, T)` as in the module docstring.
            noise_std: the observation noise sigma (> 0).
            kl_weight: weight of the KL term (1 is the ELBO; smaller values anneal).

        Returns:
            (loss, stats): loss = -mean_n ELBO_n, a 0-d tensor; stats has the floats
            "elbo", "log_likelihood", "kl" (means over series) and "mse" (observed points).

        Raises:
            ValueError: noise_std <= 0, or a bad layout.
        """
        if not noise_std > 0:
            raise ValueError(f"noise_std must be positive, got {noise_std}.")
        m = _check_series(t, y, mask).to(y.dtype)  # (N, T, 1)
        pred, mu, logvar = self(t, y, mask)
        sq = (torch.where(m.bool(), y, pred) - pred) ** 2 * m  # (N, T, D); NaN-safe
        n_obs = m.sum(dim=(1, 2)) * y.shape[-1]  # (N,)
        const = math.log(noise_std) + 0.5 * math.log(2 * math.pi)
        log_lik = -0.5 * sq.sum(dim=(1, 2)) / noise_std**2 - const * n_obs  # (N,)
        kl = 0.5 * (mu**2 + logvar.exp() - 1.0 - logvar).sum(dim=1)  # (N,)
        elbo = log_lik - kl_weight * kl
        log_lik_d, kl_d, sq_d = log_lik.detach(), kl.detach(), sq.detach()
        stats = {
            "elbo": float((log_lik_d - kl_d).mean()),
            "log_likelihood": float(log_lik_d.mean()),
            "kl": float(kl_d.mean()),
            "mse": float(sq_d.sum() / n_obs.sum().clamp_min(1)),
        }
        return -elbo.mean(), stats

    loss = elbo

    @torch.no_grad()
    def reconstruct(
        self, t_obs: Tensor, y_obs: Tensor, mask: Tensor, t_query: Tensor, *, sample: bool = False
    ) -> Tensor:
        """Interpolate (t_query inside the observed span) or extrapolate (beyond it).

        Args:
            t_obs, y_obs, mask: the observations, `(T,)`, `(N, T, D)`, `(N, T)`.
            t_query: `(Q,)` increasing times, none before t_obs[0].
            sample: draw z0 from q(z0 | x) instead of taking its mean.

        Returns:
            `(N, Q, D)`: the decoded means at t_query.
        """
        mu, logvar = self.encode(t_obs, y_obs, mask)
        z0 = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if sample else mu
        return self.decode(z0, t_query, t0=t_obs[0])


class RNNBaseline(nn.Module):
    """Autoregressive GRU with time gaps as input: the RNN baseline of Chen et al. 2018, §5.

    At grid time t_i it predicts y_i from what it read before; then it reads
    [y_i if observed else its prediction, observed flag, t_{i+1} - t_i].

    Args:
        obs_dim, hidden: observation and GRU sizes.
    """

    def __init__(self, obs_dim: int = 2, hidden: int = 25) -> None:
        super().__init__()
        self.cell = nn.GRUCell(obs_dim + 2, hidden)
        self.head = nn.Linear(hidden, obs_dim)

    def forward(self, t: Tensor, y: Tensor, mask: Tensor) -> Tensor:
        """One-step-ahead predictions `(N, T, D)` (pred[:, i] made before reading y_i)."""
        m = _check_series(t, y, mask)
        n, dtype = y.shape[0], y.dtype
        h = y.new_zeros(n, self.cell.hidden_size)  # (N, hidden)
        x = y.new_zeros(n, y.shape[2] + 2)  # nothing read yet, no gap
        preds = []
        for i in range(len(t)):
            h = self.cell(x, h)
            pred = self.head(h)  # (N, D)
            preds.append(pred)
            gap = (t[i + 1] - t[i] if i + 1 < len(t) else t.new_zeros(())).expand(n, 1)
            x = torch.cat([torch.where(m[:, i], y[:, i], pred), m[:, i].to(dtype), gap], 1)
        return torch.stack(preds, dim=1)

    def loss(self, t: Tensor, y: Tensor, mask: Tensor) -> tuple[Tensor, dict[str, float]]:
        """Mean squared error of the predictions at the observed points: (loss, {"mse"})."""
        m = _check_series(t, y, mask)
        pred = self(t, y, mask)
        sq = (torch.where(m, y, pred) - pred) ** 2  # (N, T, D), zero where unobserved
        mse = sq.sum() / (m.sum() * y.shape[-1]).clamp_min(1)
        return mse, {"mse": float(mse.detach())}

    @torch.no_grad()
    def reconstruct(self, t_obs: Tensor, y_obs: Tensor, mask: Tensor, t_query: Tensor) -> Tensor:
        """Predictions at t_query `(Q,)` after reading the observations: `(N, Q, D)`."""
        _check_series(t_obs, y_obs, mask)
        grid, inverse = torch.unique(torch.cat([t_obs, t_query]), sorted=True, return_inverse=True)
        n, T = y_obs.shape[0], len(grid)
        y = y_obs.new_zeros(n, T, y_obs.shape[2])
        m = torch.zeros(n, T, dtype=torch.bool, device=y_obs.device)
        idx = inverse[: len(t_obs)]
        y[:, idx], m[:, idx] = y_obs, mask.bool()
        return self(grid, y, m)[:, inverse[len(t_obs) :]]


class TimeSeriesLoss(nn.Module):
    """A series model and its time grid as one module: forward(y, mask) -> (loss, stats).

    Lets `nodelib.course.train.fit(TimeSeriesLoss(model, t, ...), (y, mask), loss_fn=None)` batch
    over series (and run under DistributedDataParallel) while t stays shared.

    Args:
        model: a `LatentODE` or `RNNBaseline` (anything with ``loss(t, y, mask, **kwargs)``).
        t: the common grid `(T,)`; registered as a buffer, so it follows `.to(device)`.
        **kwargs: passed to ``model.loss`` (e.g. noise_std, kl_weight for the latent ODE).
    """

    def __init__(self, model: nn.Module, t: Tensor, **kwargs: Any) -> None:
        super().__init__()
        self.model, self.kwargs = model, kwargs
        self.register_buffer("t", t.clone())

    def forward(self, y: Tensor, mask: Tensor) -> tuple[Tensor, dict[str, float]]:
        """(loss 0-d, stats) of the model on the series y `(N, T, D)`, mask `(N, T)`."""
        return self.model.loss(self.t.to(y.dtype), y, mask, **self.kwargs)
